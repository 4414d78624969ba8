"""Settings every trl trainer here shares, so SFT and GRPO run the same way on a laptop or a GPU."""

from __future__ import annotations

from pipeline.run.runtime import reached


def common_args(seed: int, output_dir: str) -> dict:
    """CPU-safe when there is no GPU (fp32, no gradient checkpointing), no checkpoints on disk during
    training (the stage saves the final model itself), no experiment trackers."""
    import torch

    gpu = torch.cuda.is_available()
    return dict(
        output_dir=output_dir, save_strategy="no", report_to=[], seed=seed, data_seed=seed,
        use_cpu=not gpu, bf16=gpu and torch.cuda.is_bf16_supported(), gradient_checkpointing=False,
        dataloader_num_workers=0,
    )


def step_callbacks() -> list:
    """Callbacks every trainer here gets: ``train.step`` is reached after each optimiser step (and before that
    step's checkpoint is saved), the point the crash tests kill a training at."""
    from transformers import TrainerCallback

    class StepReached(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            reached("train.step")

    return [StepReached()]
