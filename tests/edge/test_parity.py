"""verify: every file in its real runtime against the PyTorch student; corrupt files are caught."""

import shutil

import pytest
import torch

from portrait_edge.edge.parity import agreement, check_file, verify_task
from portrait_edge.errors import PortraitEdgeError


def _row(built, variant):
    return next(r for r in built["verify"]["rows"] if r["variant"] == variant)


def test_fp32_files_match_the_pytorch_student(built):
    for variant in ("executorch_fp32", "litert_fp32"):
        row = _row(built, variant)
        assert row["passed"], row
        assert row["vs_fp32"]["label_agreement"] >= 0.999
        assert row["vs_fp32"]["psnr_db"] >= 60
        assert row["simulated"] is False


def test_quantized_files_run_and_report_their_metric_and_drop(built):
    for variant in ("executorch_int8", "litert_int8", "litert_fp16"):
        row = _row(built, variant)
        assert set(row["vs_gt"]) >= {"miou", "mean_f1"}
        assert row["drop"] == pytest.approx(built["verify"]["student_fp32"]["miou"] - row["vs_gt"]["miou"])
        assert 0.5 < row["vs_fp32"]["label_agreement"] <= 1.0  # close to, not identical with, fp32
    assert _row(built, "litert_fp16")["vs_fp32"]["psnr_db"] > _row(built, "litert_int8")["vs_fp32"]["psnr_db"]


def test_coreml_rows_are_simulated_and_their_programs_checked(built):
    for precision in ("fp16", "int8w", "pal6"):
        row = _row(built, f"coreml_{precision}")
        assert row["simulated"] is True
        assert all(row["program_checks"].values()), row["program_checks"]
        assert row["inspection"]["metadata"]["task"] == "parsing"
        assert row["inspection"]["metadata"]["license"] == "Apache-2.0"
    assert "macOS" in _row(built, "coreml_fp16")["coreml_predict"]


def test_teacher_rows_and_vs_teacher_metrics(built):
    teacher = _row(built, "teacher_pytorch_fp32")
    assert teacher["vs_teacher"]["miou"] == pytest.approx(1.0)  # the teacher agrees with itself
    student = _row(built, "pytorch_fp32")
    assert student["vs_teacher"]["miou"] < 1.0


def test_a_corrupted_file_is_refused_before_it_runs(built, tmp_path):
    copy = tmp_path / "parsing"
    shutil.copytree(built["dir"], copy)
    entry = next(v for v in built["export"]["variants"] if v["id"] == "litert_int8")
    path = copy / entry["file"]
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(PortraitEdgeError, match="checksum mismatch with export.json"):
        check_file(copy, {**entry, "task": "parsing"})
    with pytest.raises(PortraitEdgeError, match="checksum mismatch with export.json"):
        verify_task(built["job"].task, built["job"].recipe, copy, built["job"].student().model,
                    built["job"].task_data().test_batches(2, 2), log=lambda m: None)


def test_agreement_measures_label_and_psnr(parsing_task):
    reference = [torch.randn(2, 19, 8, 8)]
    same = agreement(parsing_task, reference, reference)
    assert same["label_agreement"] == 1.0 and same["psnr_db"] == float("inf")
    noisy = agreement(parsing_task, [reference[0] + 0.5 * torch.randn_like(reference[0])], reference)
    assert noisy["label_agreement"] < 1.0 and noisy["psnr_db"] < 40
