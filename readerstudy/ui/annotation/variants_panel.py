"""The annotation window's "Generate variants" tab and its "Suggest mask" action.

Generate variants: the current mask (all labels merged: the generator is binary), a class, an
editable prompt (the template of the class), the generator and the sampler settings go to
:func:`readerstudy.services.synthesis.generate_variants` on a :class:`~readerstudy.ui.workers.Worker`
thread; the gallery shows the real image and each variant with the mask outline, PSNR/SSIM against
the real image and the mask-fidelity figures. Accept stores a variant as a SyntheticImage with
its provenance.

Suggest mask: the shipped segmenter's draft replaces the active label's pixels as one undo step;
the next save records it as AI-suggested (with the Dice between the draft and the saved mask).

The panel receives the annotation window as ``owner`` and uses only: ``ctx``, ``case_id``,
``session``, ``layer``, ``pixels``, ``levels`` and ``show_message``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from PySide6.QtCore import Qt, QThreadPool
from PySide6.QtWidgets import (
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QGridLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from readerstudy.core.errors import ReaderStudyError
from readerstudy.services import mask_suggestion, synthesis
from readerstudy.ui.annotation.variant_tiles import VariantTile, outlined_rgb
from readerstudy.ui.workers import Worker

CHOOSE = "choose the class…"
TILE_WIDTH = 150


def _ask_model_dir(parent: QWidget) -> str | None:
    path = QFileDialog.getExistingDirectory(parent, "Generator folder (vae/, unet/, scheduler/)")
    return path or None


class VariantsPanel(QWidget):
    """Side tab: sampler form, Generate/Cancel, progress, gallery of variants with Accept."""

    def __init__(self, owner: Any, choose_model_dir=_ask_model_dir) -> None:
        super().__init__()
        self._owner, self._choose_model_dir = owner, choose_model_dir
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(1)
        self._worker: Worker | None = None
        self.model_dir: Path | None = None
        self.segmenter_dir: Path | None = None  # None: the shipped segmenter
        self.batch: synthesis.VariantBatch | None = None
        self.tiles: list[VariantTile] = []
        self.accepted: dict[int, str] = {}
        self.suggestion: mask_suggestion.SuggestedMask | None = None
        self.templates = synthesis.prompt_templates()
        self._build()
        self._bind_case()

    # ----------------------------------------------------------------- construction
    def _build(self) -> None:
        lay = QVBoxLayout(self)
        lay.setContentsMargins(4, 4, 4, 4)
        box = QGroupBox("Generate variants of this lesion")
        form = QFormLayout(box)
        self.model_label = QLabel()
        self.model_label.setWordWrap(True)
        self.model_button = QPushButton("Other generator…")
        self.model_button.clicked.connect(self._on_model_requested)
        form.addRow("Generator", self.model_label)
        form.addRow("", self.model_button)
        self.class_combo = QComboBox()
        self.class_combo.addItems([CHOOSE, "0 benign", "1 malignant"])
        self.class_combo.currentIndexChanged.connect(self._on_class_changed)
        form.addRow("Class", self.class_combo)
        self.prompt_edit = QPlainTextEdit()
        self.prompt_edit.setFixedHeight(62)
        form.addRow("Prompt", self.prompt_edit)
        self.sampler_combo = QComboBox()
        self.sampler_combo.addItems(list(synthesis.SAMPLERS))
        self.steps_spin, self.seed_spin, self.count_spin = QSpinBox(), QSpinBox(), QSpinBox()
        self.steps_spin.setRange(1, 200)
        self.steps_spin.setValue(20)
        self.seed_spin.setRange(0, 2_000_000_000)
        self.count_spin.setRange(1, 16)
        self.count_spin.setValue(4)
        self.guidance_spin = QDoubleSpinBox()
        self.guidance_spin.setRange(0.0, 20.0)
        self.guidance_spin.setSingleStep(0.5)
        self.guidance_spin.setValue(4.0)
        row = QHBoxLayout()
        for text, w in (("", self.sampler_combo), ("steps", self.steps_spin), ("CFG", self.guidance_spin)):
            if text:
                row.addWidget(QLabel(text))
            row.addWidget(w)
        form.addRow("Sampler", row)
        row2 = QHBoxLayout()
        row2.addWidget(self.seed_spin)
        row2.addWidget(QLabel("count"))
        row2.addWidget(self.count_spin)
        form.addRow("Seed", row2)
        buttons = QHBoxLayout()
        self.generate_button = QPushButton("Generate variants")
        self.generate_button.clicked.connect(self.generate)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        buttons.addWidget(self.generate_button)
        buttons.addWidget(self.cancel_button)
        form.addRow(buttons)
        lay.addWidget(box)
        self.progress = QProgressBar()
        self.status = QLabel()
        self.status.setWordWrap(True)
        lay.addWidget(self.progress)
        lay.addWidget(self.status)
        self.gallery = QWidget()
        self.grid = QGridLayout(self.gallery)
        self.grid.setContentsMargins(0, 0, 0, 0)
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(self.gallery)
        lay.addWidget(scroll, 1)

    def _bind_case(self) -> None:
        o = self._owner
        self.is_2d = o.layer.shape[0] == 1
        hint = None
        try:
            hint = synthesis.case_class_hint(o.ctx, o.session, o.case_id)
        except ReaderStudyError:
            pass
        self.class_combo.setCurrentIndex(0 if hint is None else int(hint) + 1)
        self._show_model()
        if not self.is_2d:
            self.generate_button.setEnabled(False)
            self.status.setText("The generator is 2D: open a 2D image (e.g. an ultrasound frame) to generate variants.")

    def _show_model(self) -> None:
        d = self.model_dir or synthesis.shipped_generator_dir()
        name = "shipped generator (trained on busi-train)" if self.model_dir is None else str(d)
        self.model_label.setText(name)
        self.model_label.setToolTip(str(d))

    # ----------------------------------------------------------------- form
    @property
    def label(self) -> int | None:
        i = self.class_combo.currentIndex()
        return None if i <= 0 else i - 1

    def _on_class_changed(self, _i: int) -> None:
        current = " ".join(self.prompt_edit.toPlainText().split())
        if self.label is not None and (not current or current in self.templates.values()):
            self.prompt_edit.setPlainText(self.templates[self.label])

    def _on_model_requested(self) -> None:
        chosen = self._choose_model_dir(self)
        if chosen:
            self.model_dir = Path(chosen)
            self._show_model()

    def settings(self) -> synthesis.SamplerSettings:
        return synthesis.SamplerSettings(self.sampler_combo.currentText(), self.steps_spin.value(),
                                         self.guidance_spin.value(), self.seed_spin.value(), self.count_spin.value())

    def current_mask(self) -> np.ndarray:
        return np.asarray(self._owner.layer.data)[0]

    def real_image(self) -> np.ndarray:
        o = self._owner
        return mask_suggestion.display_grey(np.asarray(o.pixels)[0] if o.pixels.ndim == 3 else o.pixels, o.levels)

    # ----------------------------------------------------------------- generate
    def generate(self) -> None:
        """Start generating with the form's settings on the worker thread (errors shown inline)."""
        if self._worker is not None:
            return
        if self.label is None:
            self.status.setText("Choose the class of the lesion to generate (benign or malignant).")
            return
        o = self._owner
        mask = self.current_mask()
        try:
            source = synthesis.mask_source(o.ctx, o.session, o.case_id, o.layer.data)
        except ReaderStudyError as exc:
            source = {"annotation_id": None, "note": str(exc)}
        self._start(Worker(synthesis.generate_variants, mask, self.label, self.prompt_edit.toPlainText(),
                           self.settings(), image=self.real_image(), model_dir=self.model_dir,
                           segmenter_dir=self.segmenter_dir, mask_source=source), self._on_generated, "Generating…")

    def _start(self, worker: Worker, on_done, text: str) -> None:
        self._worker = worker
        worker.signals.progressed.connect(self._on_progress)
        worker.signals.finished.connect(on_done)
        worker.signals.failed.connect(self._on_failed)
        worker.signals.cancelled.connect(self._on_cancelled)
        self.generate_button.setEnabled(False)
        self.cancel_button.setEnabled(True)
        self.status.setText(text)
        self._pool.start(worker)

    def cancel(self) -> None:
        if self._worker is not None:
            self._worker.cancel()

    def _finish(self) -> None:
        self._worker = None
        self.generate_button.setEnabled(self.is_2d)
        self.cancel_button.setEnabled(False)

    def _on_progress(self, step: int, total: int, message: str) -> None:
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(step)
        self.status.setText(message)

    def _on_failed(self, message: str) -> None:
        self._finish()
        self.status.setText(f"Not generated: {message}")

    def _on_cancelled(self) -> None:
        self._finish()
        self.status.setText("Cancelled.")

    def _on_generated(self, batch: synthesis.VariantBatch) -> None:
        self._finish()
        self.batch, self.accepted = batch, {}
        self._fill_gallery()
        self.status.setText(f"{len(batch.variants)} variants in {batch.seconds:.1f} s "
                            f"({batch.seconds_per_variant:.2f} s each). Yellow: the mask they were "
                            "generated from.")

    def wait(self, ms: int = 120_000) -> bool:
        """Block until the background task is done (for scripts and tests)."""
        return self._pool.waitForDone(ms)

    # ----------------------------------------------------------------- gallery
    def _fill_gallery(self) -> None:
        while self.grid.count():
            w = self.grid.takeAt(0).widget()
            if w is not None:
                w.deleteLater()
        self.tiles = []
        b = self.batch
        assert b is not None
        h, w = self.current_mask().shape
        shape = (max(1, round(TILE_WIDTH * h / w)), TILE_WIDTH)
        if b.real is not None:
            from engine.metrics.mask_fidelity import case_fidelity

            c, p = case_fidelity(b.real, b.mask)
            self.grid.addWidget(VariantTile(-1, "real (generator size)", outlined_rgb(b.real, b.mask, shape),
                                            {"contrast": c, "pauc": p}, acceptable=False), 0, 0)
        for k, v in enumerate(b.variants):
            tile = VariantTile(k, f"variant {k + 1} · seed {v.seed}", outlined_rgb(v.image, b.mask, shape), v.metrics)
            tile.accept_requested.connect(self.accept)
            self.tiles.append(tile)
            pos = k + (1 if b.real is not None else 0)
            self.grid.addWidget(tile, pos // 2, pos % 2)

    def accept(self, index: int) -> str | None:
        """Store variant ``index`` as a SyntheticImage of the case; returns its id (None on error)."""
        o = self._owner
        if self.batch is None or index in self.accepted:
            return self.accepted.get(index)
        try:
            row_id = synthesis.accept_variant(o.ctx, o.session, o.case_id, self.batch, index)
        except ReaderStudyError as exc:
            self.status.setText(f"Not stored: {exc}")
            return None
        self.accepted[index] = row_id
        self.tiles[index].mark_accepted()
        self.status.setText(f"Variant {index + 1} stored as a synthetic image of this case (with its provenance).")
        return row_id

    # ----------------------------------------------------------------- suggest mask
    def suggest(self) -> None:
        """Run the segmenter on the image; the draft replaces the active label (one undo step)."""
        if self._worker is not None:
            return
        if not self.is_2d:
            self._owner.show_message("Suggest mask works on 2D images only.")
            return
        self._start(Worker(mask_suggestion.suggest_mask, self.real_image(), segmenter_dir=self.segmenter_dir),
                    self._on_suggested, "Suggesting a mask…")

    def _on_suggested(self, s: mask_suggestion.SuggestedMask) -> None:
        self._finish()
        layer = self._owner.layer
        data = np.asarray(layer.data).copy()
        active = layer.active_label
        data[data == active] = 0
        data[0][s.mask > 0] = active
        layer.replace_data(data, description="AI suggested mask")
        self.suggestion = s
        text = (f"AI draft: {int(s.mask.sum())} pixels. Edit it, then save: it is recorded as AI-suggested."
                if s.mask.any() else "The segmenter found no lesion; draw it by hand.")
        self.status.setText(text)
        self._owner.show_message(text)

    def save_provenance(self) -> dict | None:
        """What the next save records: the AI draft (if one was applied since the last save)."""
        if self.suggestion is None:
            return None
        lesion = np.asarray(self._owner.layer.data)[0] == self._owner.layer.active_label
        return mask_suggestion.suggestion_provenance(self.suggestion, lesion)

    def saved(self) -> None:
        self.suggestion = None
