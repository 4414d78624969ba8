import random

import torch

from pipeline.answers.engines import answer
from pipeline.answers.prompts import prompt_text
from pipeline.models.checkpoint import load
from pipeline.models.vlm import TinyVLMSpec, build_model, build_processor, train_tokenizer
from pipeline.storage.images import encode_png
from pipeline.world.render import render
from pipeline.world.scenes import sample_scene


def test_tiny_vlm_saves_and_loads_with_stock_auto_classes(tmp_path):
    from transformers import AutoModelForImageTextToText, AutoProcessor

    tok = train_tokenizer([prompt_text("How many shapes are there?", "integer") + " 3"] * 20, 300)
    proc = build_processor(tok, 56)
    model = build_model(TinyVLMSpec(image_size=56, vocab_size=len(tok), text_hidden=64, vision_hidden=32), tok, 0)
    model.save_pretrained(tmp_path)
    proc.save_pretrained(tmp_path)
    loaded = AutoModelForImageTextToText.from_pretrained(tmp_path)
    assert type(loaded).__name__ == "Qwen2_5_VLForConditionalGeneration"
    assert type(AutoProcessor.from_pretrained(tmp_path)).__name__ == "Qwen2_5_VLProcessor"
    original, reloaded = model.state_dict(), loaded.state_dict()
    assert original.keys() == reloaded.keys()
    assert all(torch.equal(original[k], reloaded[k]) for k in original)

    model2, proc2 = load(tmp_path)
    rows = [{"image": encode_png(render(sample_scene("shapes", random.Random(i)), 56)),
             "question": "How many shapes are there?", "answer_type": "integer", "options": []} for i in range(3)]
    greedy = answer(model2, proc2, rows, batch_size=2, max_new_tokens=3)
    assert len(greedy) == 3 and all(len(g) == 1 for g in greedy)
    assert greedy == answer(model2, proc2, rows, batch_size=3, max_new_tokens=3)  # batching does not change answers
    sampled = answer(model2, proc2, rows, batch_size=2, max_new_tokens=3, samples=4, seed=1)
    assert all(len(s) == 4 for s in sampled)
    assert sampled == answer(model2, proc2, rows, batch_size=2, max_new_tokens=3, samples=4, seed=1)
