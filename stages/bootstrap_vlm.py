"""DVC stage `bootstrap_vlm`: build the tiny Qwen2.5-VL (round r0) and warm it up by SFT."""

import pyarrow.parquet as pq

from pipeline.models.sft import curriculum, run_sft
from pipeline.models.vlm import TinyVLMSpec, build_model, build_processor, train_tokenizer
from pipeline.prompts import prompt_text
from pipeline.runtime import start, write_metrics


def main(argv=None):
    args, params = start(__doc__, argv, (("--corpus", {"required": True}), ("--out", {"required": True}),
                                         ("--metrics", {"required": True})))
    cfg = params.bootstrap.vlm
    rows = pq.read_table(args.corpus).to_pylist()
    texts = [f"{prompt_text(r['question'], r['answer_type'], r['options'])}\n{r['answer']}" for r in rows]
    tokenizer = train_tokenizer(texts, cfg.vocab_size)
    processor = build_processor(tokenizer, params.world.image_size)
    spec = TinyVLMSpec(image_size=params.world.image_size, vocab_size=len(tokenizer), text_hidden=cfg.text_hidden,
                       text_layers=cfg.text_layers, vision_hidden=cfg.vision_hidden, vision_layers=cfg.vision_layers)
    model = build_model(spec, tokenizer, params.seed)
    stats = run_sft(model, processor, curriculum(rows, cfg.skew, params.seed), steps=cfg.steps,
                    batch_size=cfg.batch_size, lr=cfg.lr, seed=params.seed)
    model.save_pretrained(args.out)
    processor.save_pretrained(args.out)
    stats["parameters"] = sum(p.numel() for p in model.parameters())
    write_metrics(args.metrics, {"vlm": stats})


if __name__ == "__main__":
    main()
