from pipeline.training.grpo import planned_steps
from pipeline.training.params import TrainConfig


def test_planned_steps_follow_epochs_and_cap():
    cfg = TrainConfig(prompts_per_step=4, epochs=2.0, max_steps=40)
    assert planned_steps(10, cfg) == 5
    assert planned_steps(1000, cfg) == 40
    assert planned_steps(1, cfg) == 1


def test_freeze_vision_tower_leaves_language_model_trainable():
    from pipeline.models.vlm import TinyVLMSpec, build_model, train_tokenizer
    from pipeline.training.grpo import freeze_vision_tower

    tok = train_tokenizer(["how many shapes 3"] * 5, 300)
    model = build_model(TinyVLMSpec(vocab_size=len(tok), text_hidden=32, vision_hidden=32, vision_heads=2), tok, 0)
    frozen = freeze_vision_tower(model)
    vision = sum(p.numel() for n, p in model.named_parameters() if "visual" in n)
    assert frozen == vision > 0
    assert all(p.requires_grad for n, p in model.named_parameters() if "language_model" in n)


def test_reference_base_puts_the_base_weights_in_the_kl_reference(tmp_path):
    import torch

    from pipeline.models.checkpoint import load
    from pipeline.training.grpo import grpo_trainer
    from tests import families

    start = families.build("qwen2_5_vl", tmp_path / "start", warm_up=10)
    base = families.build("qwen2_5_vl", tmp_path / "base")  # other weights: the warm-up never ran
    rows = families.world_rows(4)
    cfg = TrainConfig(max_steps=1, num_generations=2, prompts_per_step=2, save_steps=0)
    model, processor = load(start, device=None)
    trainer = grpo_trainer(model, processor, rows, cfg, 0, 3, str(tmp_path / "state"), reference=str(base))
    want = load(base, device=None)[0].state_dict()
    got = trainer.ref_model.state_dict()
    assert all(torch.equal(got[k], want[k]) for k in want)
    default = grpo_trainer(load(start, device=None)[0], processor, rows, cfg, 0, 3, str(tmp_path / "state2"))
    assert not all(torch.equal(default.ref_model.state_dict()[k], want[k]) for k in want)

