"""The coordinator workspace: one tab per task (dashboard, cases, and the tabs listed in
:mod:`readerstudy.ui.coordinator.home`). Each tab module exposes a widget that receives the
:class:`~readerstudy.services.context.AppContext` and the coordinator's
:class:`~readerstudy.services.auth.UserSession`; tabs never import the window that holds them."""
