#!/usr/bin/env python3
"""Writes fixtures/hf-tokenizers/: real Hugging Face tokenizer directories and HF's own token ids for them.

For each llama.cpp vocab fixture fixtures/vocab/ggml-vocab-<name>.gguf (llama-spm, llama-bpe, qwen2):
  <name>/tokenizer.json.gz       the fast tokenizer transformers builds from the GGUF
                                 (`AutoTokenizer.from_pretrained(dir, gguf_file=...)` then `save_pretrained`),
                                 re-serialised without indentation and gzipped (the BPE ones are 11-17 MB raw)
  <name>/tokenizer_config.json   as save_pretrained writes it
  <name>/chat_template.jinja     where save_pretrained writes one
  <name>/expected.json           for every text of ggml-vocab-<name>.gguf.inp (the strings separated by
                                 "\\n__ggml_vocab_test__\\n"), in order:
                                   text           the input
                                   hf_ids         tok(text, add_special_tokens=False)["input_ids"]
                                   llama_cpp_ids  the matching line of the .gguf.out file
                                   agree          hf_ids == llama_cpp_ids
                                   hf_decoded     tok.decode(hf_ids, skip_special_tokens=False,
                                                  clean_up_tokenization_spaces=False)
                                 plus `vocab_size` (len(tok)), `bos_id`, `eos_id`, `pad_id` (tok.*_token_id)
                                 and `extra_cases` (texts with special tokens, same fields, no llama.cpp ids)
Other files save_pretrained writes (special_tokens_map.json and the like) are dropped.

Run from the repository root: python3 scripts/make_hf_tokenizer_fixtures.py
Made with transformers 5.23.0 / tokenizers 0.23.3.
"""

import gzip
import json
import shutil
import tempfile
from pathlib import Path

import tokenizers
import transformers
from transformers import AutoTokenizer

ROOT = Path(__file__).resolve().parent.parent
VOCAB = ROOT / "fixtures" / "vocab"
OUT = ROOT / "fixtures" / "hf-tokenizers"
NAMES = ["llama-spm", "llama-bpe", "qwen2"]
KEEP = ["tokenizer_config.json", "chat_template.jinja"]
SEPARATOR = "\n__ggml_vocab_test__\n"

# Texts around special tokens: each vocabulary's BOS/EOS and, where present, chat markers.
EXTRA = {
    "llama-spm": ["<s>Hello</s>", "Hello <s> world", " <s>  x</s>\n"],
    "llama-bpe": [
        "<|begin_of_text|>Hello<|end_of_text|>",
        "<|start_header_id|>user<|end_header_id|>\n\nHi there<|eot_id|>",
        " <|eot_id|>  x",
    ],
    "qwen2": [
        "<|im_start|>user\nHi there<|im_end|>\n<|im_start|>assistant\n",
        "<|endoftext|>Hello",
        " <|im_end|>  x",
    ],
}


def texts_and_ids(name):
    base = VOCAB / f"ggml-vocab-{name}.gguf"
    texts = base.with_name(base.name + ".inp").read_text(encoding="utf-8").split(SEPARATOR)
    assert texts.pop() == "", f"{name}.inp must end with a separator"
    lines = base.with_name(base.name + ".out").read_text(encoding="utf-8").splitlines()
    ids = [[int(i) for i in line.split()] for line in lines]
    assert len(texts) == len(ids), f"{name}: .inp and .out disagree on the number of cases"
    return texts, ids


def case(tok, text, llama_cpp_ids=None):
    hf_ids = tok(text, add_special_tokens=False)["input_ids"]
    entry = {"text": text, "hf_ids": hf_ids}
    if llama_cpp_ids is not None:
        entry["llama_cpp_ids"] = llama_cpp_ids
        entry["agree"] = hf_ids == llama_cpp_ids
    entry["hf_decoded"] = tok.decode(
        hf_ids, skip_special_tokens=False, clean_up_tokenization_spaces=False
    )
    return entry


def make(name):
    tok = AutoTokenizer.from_pretrained(VOCAB, gguf_file=f"ggml-vocab-{name}.gguf")
    assert tok.is_fast, name
    out = OUT / name
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    with tempfile.TemporaryDirectory() as saved:
        tok.save_pretrained(saved)
        saved = Path(saved)
        tokenizer_json = json.loads((saved / "tokenizer.json").read_text(encoding="utf-8"))
        compact = json.dumps(tokenizer_json, ensure_ascii=False, separators=(",", ":"))
        with open(out / "tokenizer.json.gz", "wb") as raw, gzip.GzipFile(
            fileobj=raw, mode="wb", compresslevel=9, mtime=0
        ) as gz:
            gz.write(compact.encode("utf-8"))
        for keep in KEEP:
            if (saved / keep).exists():
                shutil.copyfile(saved / keep, out / keep)

    texts, ids = texts_and_ids(name)
    cases = [case(tok, text, expected) for text, expected in zip(texts, ids)]
    extra = [case(tok, text) for text in EXTRA[name]]
    disagree = [c for c in cases if not c["agree"]]
    report = {
        "source": f"fixtures/vocab/ggml-vocab-{name}.gguf",
        "made_with": f"transformers {transformers.__version__}, tokenizers {tokenizers.__version__}",
        "vocab_size": len(tok),
        "bos_id": tok.bos_token_id,
        "eos_id": tok.eos_token_id,
        "pad_id": tok.pad_token_id,
        "cases": cases,
        "extra_cases": extra,
    }
    (out / "expected.json").write_text(
        json.dumps(report, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    print(f"{name}: {len(cases)} cases, HF and llama.cpp disagree on {len(disagree)}")
    for c in disagree:
        print(f"  {c['text']!r}\n    hf        {c['hf_ids']}\n    llama.cpp {c['llama_cpp_ids']}")
    for c in cases + extra:
        if c["hf_decoded"] != c["text"]:
            print(f"  decode does not round-trip: {c['text']!r} -> {c['hf_decoded']!r}")


def main():
    for name in NAMES:
        make(name)


if __name__ == "__main__":
    main()
