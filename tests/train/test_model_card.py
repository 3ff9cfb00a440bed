from portrait_edge.train.model_card import render


def _card(data):
    return {"task": "parsing", "role": "student", "arch": "mobile_unet", "arch_kwargs": {"width": 16}, "params": 1000,
            "macs_at_256": 2e8, "steps": 10, "batch_size": 8, "recipe_path": "r.yaml", "sha256": "ab" * 32,
            "data": data, "metrics": {"synthetic-test": {"miou": 0.7, "mean_f1": 0.8, "n": 200, "size": 256}},
            "teacher": {"path": "t.safetensors", "sha256": "cd" * 32}}


def test_a_card_names_real_sources_with_licences_and_inherits_their_terms():
    text = render(_card({"mix": [
        {"source": "synthetic", "pool": 2000, "engine_fingerprint": "e", "weight": 0.5},
        {"source": "reader", "reader": "pool", "weight": 0.5, "augment": ["flip"],
         "pool_sources": [{"name": "owner/repo@abc", "licence": "non-commercial research only", "kept": 12}]}]}), "m")
    assert "owner/repo@abc: 12 photos in the pool; licence: non-commercial research only" in text
    assert "Research and non-commercial use only" in text
    assert "| synthetic-test | 200 | 256 | 0.7000 | 0.8000 |" in text
    assert "Distilled from `t.safetensors`" in text
    assert "## Known limits" in text and "pseudo-labels" in text


def test_a_renders_only_card_says_so():
    text = render(_card({"source": "synthetic", "pool": 0, "engine_fingerprint": "e"}), "m")
    assert "Trained only on this project's synthetic renders." in text
