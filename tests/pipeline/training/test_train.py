from pipeline.training.params import TrainConfig
from pipeline.training.train import planned_steps


def test_planned_steps_follow_epochs_and_cap():
    cfg = TrainConfig(prompts_per_step=4, epochs=2.0, max_steps=40)
    assert planned_steps(10, cfg) == 5
    assert planned_steps(1000, cfg) == 40
    assert planned_steps(1, cfg) == 1


def test_freeze_vision_tower_leaves_language_model_trainable():
    from pipeline.models.vlm import TinyVLMSpec, build_model, train_tokenizer
    from pipeline.training.train import freeze_vision_tower

    tok = train_tokenizer(["how many shapes 3"] * 5, 300)
    model = build_model(TinyVLMSpec(vocab_size=len(tok), text_hidden=32, vision_hidden=32, vision_heads=2), tok, 0)
    frozen = freeze_vision_tower(model)
    vision = sum(p.numel() for n, p in model.named_parameters() if "visual" in n)
    assert frozen == vision > 0
    assert all(p.requires_grad for n, p in model.named_parameters() if "language_model" in n)
