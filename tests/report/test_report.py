"""report.md, report.json and the plots from a verified, benchmarked build."""

import json

from portrait_edge.report.report import write_report


def test_report_files_and_one_record_per_variant(built, tmp_path):
    report = write_report([built["dir"]], tmp_path)
    data = json.loads((tmp_path / "report.json").read_text())
    assert data["records"] == json.loads(json.dumps(report["records"]))
    variants = [r["variant"] for r in data["records"]]
    assert variants[:3] == ["teacher_pytorch_fp32", "pytorch_fp32", "pytorch_int8_pt2e"]
    assert {"executorch_int8", "litert_int8", "coreml_pal6"} <= set(variants)
    for record in data["records"]:
        assert {"task", "role", "format", "precision", "params", "macs", "bytes", "latency_ms", "peak_memory_mb",
                "metrics"} <= set(record)
    int8 = next(r for r in data["records"] if r["variant"] == "litert_int8")
    assert int8["latency_ms"]["1"] > 0 and int8["metrics"]["vs_gt"]["miou"] >= 0
    assert int8["metrics"]["vs_fp32"]["label_agreement"] > 0.5
    assert int8["io"]["inputs"][0]["quantization"]["zero_point"] == -128
    coreml = next(r for r in data["records"] if r["variant"] == "coreml_int8w")
    assert coreml["simulated"] is True and coreml["latency_ms"] == {}


def test_report_markdown_has_the_conventional_tables(built, tmp_path):
    write_report([built["dir"]], tmp_path)
    text = (tmp_path / "report.md").read_text()
    assert "### Accuracy: float vs quantized, per runtime" in text
    assert "### Speed, size, memory" in text
    assert "*simulated*" in text and "Tool versions:" in text and "executorch 1.5.1" in text
    assert "Estimated fp32 peak" in text
    per_class = text.split("### Per-class IoU on the test split")[1].split("###")[0]
    header = next(line for line in per_class.splitlines() if line.startswith("| variant"))
    assert "skin" in header and "hair" in header
    assert per_class.count("| litert_int8 |") == 1 and per_class.count("| teacher_pytorch_fp32 |") == 1
    for plot in ("parsing_accuracy_vs_latency.png", "parsing_accuracy_vs_size.png"):
        assert (tmp_path / plot).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert plot in text
