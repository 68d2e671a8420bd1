"""``readerstudy plan``: power and sample size of an MRMC study from a pilot study or entered
variance components (Obuchowski-Rockette, Hillis, Obuchowski & Berbaum 2011)."""

from __future__ import annotations

import argparse
import json

from readerstudy.cli.app import add_db_argument


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("plan", help="power of an MRMC study for readers x cases, from a pilot study's reads")
    add_db_argument(p)
    src = p.add_mutually_exclusive_group(required=True)
    src.add_argument("--study", help="pilot study whose reads give the variance components")
    src.add_argument("--components", metavar="K=V,...",
                     help="entered OR components (AUC^2 units): var_TR=,var_error=,cov1=,cov2=,cov3=,n_cases= "
                          "(pilot cases, >= 10); optionally auc1=,auc2= (the pilot's AUCs, in [0, 1])")
    p.add_argument("--arms", nargs=2, metavar="ARM",
                   help="the two arms of the pilot compared, effect = AUC(first) - AUC(second) (default: the "
                        "study's primary comparison, as in the report: unaided vs AI-aided)")
    p.add_argument("--effect", type=float, default=None,
                   help="AUC difference to detect, 0 < |effect| < 1; the test is two-sided, so |effect| is used "
                        "(default: the pilot's observed difference)")
    p.add_argument("--readers", type=int, nargs="+", default=[3, 4, 5, 6, 8, 10, 15, 20])
    p.add_argument("--cases", type=int, nargs="+", default=[50, 100, 150, 200, 300, 500],
                   help="planned numbers of cases, each >= 10 (default 50 100 150 200 300 500)")
    p.add_argument("--target", type=float, default=0.8, help="power for the cases-needed column (default 0.8)")
    p.add_argument("--analysis", choices=("RRRC", "FRRC", "RRFC"), default="RRRC")
    p.add_argument("--alpha", type=float, default=0.05)
    p.add_argument("--json", metavar="FILE", help="also write the plan as JSON")
    p.set_defaults(func=_run)


def _print(plan) -> None:  # noqa: ANN001 - services.planning.Plan
    c = plan.components
    print(f"Pilot: {plan.source}")
    if c.aucs is not None:
        names = c.tests if len(c.tests) == 2 else ("test 1", "test 2")
        print(f"Pilot AUCs: {names[0]} {c.aucs[0]:.4f}, {names[1]} {c.aucs[1]:.4f}")
    print(f"OR components (AUC^2 units, pilot cases {c.n_cases}):")
    for line in plan.component_lines():
        print(f"  {line}")
    print(f"Effect (AUC difference) {plan.effect:.4f}, {plan.analysis}, alpha {plan.alpha:g}")
    for note in plan.notes:
        print(f"Note: {note}")
    g = plan.grid
    print("\nPower      " + "".join(f"{k:>8d}" for k in g["cases"]) + "   cases")
    for r, row in zip(g["readers"], g["power"], strict=True):
        print(f"{r:3d} readers" + "".join(f"{p:8.3f}" for p in row))
    print(f"\nCases for {plan.target:.0%} power:")
    for n in plan.needed:
        got = f"{n.cases} cases (power {n.power:.3f})" if n.cases else f"more than {n.max_cases} cases"
        print(f"{n.readers:3d} readers: {got}")


def _run(args: argparse.Namespace) -> int:
    from readerstudy.services import planning
    from readerstudy.services.auth import local_session

    if args.components:
        comps, source = planning.parse_components(args.components), "entered components"
    else:
        from readerstudy.services.context import open_context

        ctx = open_context(args.db)
        try:
            comps, source = planning.pilot_components(ctx, local_session(), args.study, args.arms)
        finally:
            ctx.close()
    plan = planning.make_plan(comps, source, effect=args.effect, readers=args.readers, cases=args.cases,
                              target=args.target, analysis=args.analysis, alpha=args.alpha)
    _print(plan)
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(plan.to_dict(), fh, indent=2, default=str)
    return 0
