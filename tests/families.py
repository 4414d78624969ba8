"""Tiny random-weight VLMs of the families trl's GRPOTrainer supports, built from configs with a BPE tokenizer
trained here and each family's own processor and chat-template layout, saved like a hub checkpoint (offline).
Plus the rows the stages read (probe items, a training set) and a runner for the project's stages."""

from __future__ import annotations

import random
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

TEXTS = ["How many shapes are there? Answer with a number. 3", "What colour is the circle? red blue green",
         "A. red B. blue C. green Answer with the letter of the correct option. B"] * 20


def tokenizer(specials, eos, pad, template, extra=None, vocab=400):
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.train_from_iterator(TEXTS, trainer=trainers.BpeTrainer(vocab_size=vocab, special_tokens=specials,
                            initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=eos, pad_token=pad,
                                   additional_special_tokens=[s for s in specials if s not in (eos, pad)],
                                   **({"extra_special_tokens": extra} if extra else {}))
    fast.chat_template = template
    fast.padding_side = "left"
    return fast

def _tiny_llama(tok, **kw):
    return dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=512,
                pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, bos_token_id=tok.pad_token_id, **kw)

def chat_template(open_turn: str, image: str, close_turn: str, generation: str) -> str:
    """A family's chat template: each turn opened, its image slot and text, closed; then the reply's opening."""
    return ("{% for m in messages %}" + open_turn + "{% if m['content'] is string %}{{ m['content'] }}"
            "{% else %}{% for p in m['content'] %}{% if p['type'] == 'image' %}" + image +
            "{% elif p['type'] == 'text' %}{{ p['text'] }}{% endif %}{% endfor %}{% endif %}" + close_turn +
            "{% endfor %}{% if add_generation_prompt %}" + generation + "{% endif %}")

def llava(out):
    from transformers import (
        CLIPImageProcessor,
        CLIPVisionConfig,
        LlamaConfig,
        LlavaConfig,
        LlavaForConditionalGeneration,
        LlavaProcessor,
    )
    tpl = chat_template("<|im_start|>{{ m['role'] }}\n", "<image>\n", "<|im_end|>\n", "<|im_start|>assistant\n")
    tok = tokenizer(["<|endoftext|>", "<|im_start|>", "<|im_end|>", "<image>"], "<|im_end|>", "<|endoftext|>", tpl)
    proc = LlavaProcessor(image_processor=CLIPImageProcessor(size={"shortest_edge": 28}, crop_size={"height": 28, "width": 28}),
                          tokenizer=tok, patch_size=14, vision_feature_select_strategy="default", chat_template=tpl,
                          num_additional_image_tokens=1)
    cfg = LlavaConfig(vision_config=CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                      num_attention_heads=2, image_size=28, patch_size=14, projection_dim=32),
                      text_config=LlamaConfig(**_tiny_llama(tok)), image_token_index=tok.convert_tokens_to_ids("<image>"),
                      vision_feature_select_strategy="default", vision_feature_layer=-1)
    return save(LlavaForConditionalGeneration(cfg), proc, tok, out)

def idefics3(out):
    from transformers import (
        Idefics3Config,
        Idefics3ForConditionalGeneration,
        Idefics3ImageProcessor,
        Idefics3Processor,
        Idefics3VisionConfig,
        LlamaConfig,
    )
    tpl = chat_template("<|im_start|>{{ m['role'] | capitalize }}:", "<image>", "<end_of_utterance>\n", "Assistant:")
    tok = tokenizer(["<|endoftext|>", "<|im_start|>", "<end_of_utterance>", "<image>", "<fake_token_around_image>", "<global-img>"],
                    "<end_of_utterance>", "<|endoftext|>", tpl)
    ip = Idefics3ImageProcessor(do_image_splitting=False, size={"longest_edge": 28}, max_image_size={"longest_edge": 28})
    proc = Idefics3Processor(image_processor=ip, tokenizer=tok, image_seq_len=1, chat_template=tpl)
    cfg = Idefics3Config(vision_config=Idefics3VisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, image_size=28, patch_size=14), text_config=LlamaConfig(**_tiny_llama(tok)),
                         scale_factor=2, image_token_id=tok.convert_tokens_to_ids("<image>"), pad_token_id=tok.pad_token_id)
    return save(Idefics3ForConditionalGeneration(cfg), proc, tok, out)

def gemma3(out):
    from transformers import (
        Gemma3Config,
        Gemma3ForConditionalGeneration,
        Gemma3ImageProcessor,
        Gemma3Processor,
        Gemma3TextConfig,
        SiglipVisionConfig,
    )
    tpl = chat_template("<start_of_turn>{{ 'model' if m['role'] == 'assistant' else m['role'] }}\n", "<start_of_image>",
                        "<end_of_turn>\n", "<start_of_turn>model\n")
    specials = ["<pad>", "<eos>", "<bos>", "<start_of_turn>", "<end_of_turn>", "<start_of_image>", "<end_of_image>", "<image_soft_token>"]
    tok = tokenizer(specials, "<end_of_turn>", "<pad>", tpl,
                    extra={"boi_token": "<start_of_image>", "eoi_token": "<end_of_image>", "image_token": "<image_soft_token>"})
    proc = Gemma3Processor(image_processor=Gemma3ImageProcessor(size={"height": 28, "width": 28}), tokenizer=tok,
                           image_seq_length=4, chat_template=tpl)
    ids = tok.convert_tokens_to_ids
    text = Gemma3TextConfig(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                            num_attention_heads=2, num_key_value_heads=1, head_dim=16, max_position_embeddings=512,
                            pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id, bos_token_id=ids("<bos>"),
                            sliding_window=64)
    cfg = Gemma3Config(text_config=text, vision_config=SiglipVisionConfig(hidden_size=32, intermediate_size=64,
                       num_hidden_layers=1, num_attention_heads=2, image_size=28, patch_size=14),
                       mm_tokens_per_image=4, boi_token_index=ids("<start_of_image>"), eoi_token_index=ids("<end_of_image>"),
                       image_token_index=ids("<image_soft_token>"))
    return save(Gemma3ForConditionalGeneration(cfg), proc, tok, out)

def save(model, proc, tok, out):
    model.generation_config.eos_token_id = tok.eos_token_id
    model.generation_config.pad_token_id = tok.pad_token_id
    model.save_pretrained(out); proc.save_pretrained(out)
    return Path(out)


def qwen2_5_vl(out):
    """The embedded default's architecture, small."""
    from pipeline.models.vlm import (
        TinyVLMSpec,
        build_model,
        build_processor,
        train_tokenizer,
    )

    tok = train_tokenizer(TEXTS, 400)
    model = build_model(TinyVLMSpec(image_size=56, vocab_size=len(tok), text_hidden=32, vision_hidden=32,
                                    vision_heads=2), tok, 0)
    return save(model, build_processor(tok, 56), tok, out)


def qwen2_vl(out):
    from transformers import (
        Qwen2VLConfig,
        Qwen2VLForConditionalGeneration,
        Qwen2VLImageProcessor,
        Qwen2VLProcessor,
        Qwen2VLVideoProcessor,
    )

    from pipeline.models.vlm import CHAT_TEMPLATE, SPECIAL_TOKENS, train_tokenizer

    tok = train_tokenizer(TEXTS, 400)
    ids = tok.convert_tokens_to_ids
    size = {"shortest_edge": 56 * 56, "longest_edge": 56 * 56}
    proc = Qwen2VLProcessor(image_processor=Qwen2VLImageProcessor(size=size), tokenizer=tok,
                            video_processor=Qwen2VLVideoProcessor(size=size), chat_template=CHAT_TEMPLATE)
    cfg = Qwen2VLConfig(
        text_config=dict(vocab_size=len(tok), hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                         num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=512,
                         rope_parameters={"rope_type": "default", "rope_theta": 10000.0, "mrope_section": [2, 3, 3]},
                         eos_token_id=ids("<|im_end|>"), pad_token_id=ids("<|endoftext|>"),
                         bos_token_id=ids("<|endoftext|>")),
        vision_config=dict(depth=1, embed_dim=32, hidden_size=32, num_heads=2, mlp_ratio=2),
        image_token_id=ids("<|image_pad|>"), video_token_id=ids("<|video_pad|>"),
        vision_start_token_id=ids("<|vision_start|>"), vision_end_token_id=ids("<|vision_end|>"))
    assert SPECIAL_TOKENS[0] == "<|endoftext|>"
    return save(Qwen2VLForConditionalGeneration(cfg), proc, tok, out)


FAMILIES = {"qwen2_5_vl": qwen2_5_vl, "qwen2_vl": qwen2_vl, "idefics3": idefics3, "gemma3": gemma3, "llava": llava}


def build(family: str, out, warm_up: int = 0) -> Path:
    """A random model of ``family`` in ``out``; ``warm_up`` SFT steps on one-word colour answers make its
    sampled answers split between a few words (a random model's never repeat, so GRPO would see no spread)."""
    import torch

    torch.manual_seed(0)
    out = FAMILIES[family](out)
    if warm_up:
        from pipeline.bootstrap.sft import run_sft
        from pipeline.models.checkpoint import load

        model, processor = load(out)
        rows = [r | {"question": "What colour is the shape?", "answer_type": "word", "answer": c}
                for r, c in zip(world_rows(16), ["red", "blue"] * 8)]
        run_sft(model, processor, rows, steps=warm_up, batch_size=8, lr=2e-2, seed=0)
        model.save_pretrained(out)
    return out


def world_rows(n: int, seed: int = 0) -> list[dict]:
    """Labelled counting questions about rendered world images (probe/eval items and training rows)."""
    from pipeline.storage.images import encode_png
    from pipeline.world.render import render
    from pipeline.world.scenes import sample_scene

    rows = []
    for i in range(n):
        rng = random.Random(seed * 1000 + i)
        scene = sample_scene("shapes", rng)
        count = len(scene["items"])
        rows.append({"item_id": f"i{i}", "image": encode_png(render(scene, 56)), "question": "How many shapes?",
                     "answer": str(count), "answer_type": "integer", "options": [], "category": "counting",
                     "image_type": "shapes"})
    return rows


def write_items(path, n: int = 8, seed: int = 1) -> Path:
    """World items (item schema) in a parquet file: a probe, evaluation or dev set."""
    from pipeline.storage import artifacts, schemas

    artifacts.write_parquet(path, [{f.name: None for f in schemas.ITEMS} | r for r in world_rows(n, seed)],
                            schemas.ITEMS)
    return Path(path)


def write_trainset(path, n: int = 8) -> Path:
    from pipeline.storage import artifacts, schemas

    rows = [{f.name: None for f in schemas.TRAINSET} | r | {"sample_id": r["item_id"], "pass_rate": 0.5,
                                                             "label": "reference", "agent_answer": r["answer"]}
            for r in world_rows(n)]
    artifacts.write_parquet(path, rows, schemas.TRAINSET)
    return Path(path)


def run_stage(stage: str, params: Path, *args, cwd=None, **popen) -> subprocess.CompletedProcess:
    """``python -m stages.<stage> --params <params> <args>`` in the repository, as DVC runs it."""
    cmd = [sys.executable, "-m", f"stages.{stage}", "--params", str(params), *map(str, args)]
    return subprocess.run(cmd, cwd=cwd or REPO, capture_output=True, text=True, **popen)
