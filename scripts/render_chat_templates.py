#!/usr/bin/env python3
"""Render the chat templates in fixtures/chat-templates with Hugging Face transformers' own renderer.

Writes fixtures/chat-templates/expected.json: one case per (template, conversation, add_generation_prompt)
with the inputs and either the rendered text or `"error": true` when transformers raises. The Rust tests
(model-llama/tests/chat_template_hf.rs) render the same inputs and compare byte for byte. Where Jinja2 raises
only because a template loops over `tools=None`, `expected_if_none_iterates_empty` holds the rendering with
`tools=[]`: minijinja iterates `none` as an empty sequence, and that is the text we must produce.

`strftime_now` is pinned to FIXED_NOW so the templates that print today's date give stable fixtures; the
Rust side injects the same date through `RenderOptions::now`.

Usage: pip install transformers jinja2 && python scripts/render_chat_templates.py
"""

import datetime as real_datetime
import json
import pathlib

import transformers
import transformers.utils.chat_template_utils as chat_template_utils

FIXED_NOW = real_datetime.datetime(2025, 7, 26, 14, 5, 9)


class FixedDatetime(real_datetime.datetime):
    @classmethod
    def now(cls, tz=None):
        return FIXED_NOW


chat_template_utils.datetime = FixedDatetime

ROOT = pathlib.Path(__file__).resolve().parent.parent
TEMPLATE_DIR = ROOT / "fixtures" / "chat-templates"

LLAMA3 = {"bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>"}
QWEN = {"eos_token": "<|im_end|>"}
MISTRAL = {"bos_token": "<s>", "eos_token": "</s>"}
DEEPSEEK = {"bos_token": "<｜begin▁of▁sentence｜>", "eos_token": "<｜end▁of▁sentence｜>"}
HERMES = {"bos_token": "<|begin_of_text|>", "eos_token": "<|im_end|>"}

# template file -> special tokens passed as kwargs (what apply_chat_template passes from the tokenizer)
TEMPLATES = {
    "meta-llama-Llama-3.1-8B-Instruct.jinja": LLAMA3,
    "meta-llama-Llama-3.2-3B-Instruct.jinja": LLAMA3,
    "meta-llama-Llama-3.3-70B-Instruct.jinja": LLAMA3,
    "Qwen-Qwen2.5-7B-Instruct.jinja": QWEN,
    "Qwen-Qwen3-0.6B.jinja": QWEN,
    "Mistral-Small-3.2-24B-Instruct-2506.jinja": MISTRAL,
    "unsloth-mistral-Devstral-Small-2507.jinja": MISTRAL,
    "deepseek-ai-DeepSeek-R1-Distill-Llama-8B.jinja": DEEPSEEK,
    "deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja": DEEPSEEK,
    "NousResearch-Hermes-2-Pro-Llama-3-8B-tool_use.jinja": HERMES,
    "NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja": HERMES,
}

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Get the current weather in a city.",
        "parameters": {
            "type": "object",
            "properties": {
                "city": {"type": "string", "description": "City name, e.g. Paris"},
                "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["city"],
        },
    },
}

CONVERSATIONS = {
    "system_user": {
        "messages": [
            {"role": "system", "content": "You are a terse assistant."},
            {"role": "user", "content": "What is 2 + 2?"},
        ]
    },
    "user_only": {"messages": [{"role": "user", "content": "Hello! Write “naïve” café in 日本語 🍣?"}]},
    "multi_turn": {
        "messages": [
            {"role": "system", "content": "You answer in one sentence."},
            {"role": "user", "content": "Name a prime number."},
            {"role": "assistant", "content": "7 is a prime number."},
            {"role": "user", "content": "  And an even one?\n"},
        ]
    },
    "multi_turn_reasoning": {
        "messages": [
            {"role": "user", "content": "Is 9 prime?"},
            {
                "role": "assistant",
                "content": "<think>\n9 = 3 * 3.\n</think>\n\nNo, 9 = 3 × 3.",
            },
            {"role": "user", "content": "Is 11 prime?"},
        ]
    },
    "tool_call": {
        "tools": [WEATHER_TOOL],
        "messages": [
            {"role": "system", "content": "You can call tools."},
            {"role": "user", "content": "What's the weather in Paris?"},
            {
                "role": "assistant",
                "content": "",
                "tool_calls": [
                    {
                        "id": "call12345",
                        "type": "function",
                        "function": {"name": "get_weather", "arguments": {"city": "Paris", "unit": "celsius"}},
                    }
                ],
            },
            {
                "role": "tool",
                "tool_call_id": "call12345",
                "name": "get_weather",
                "content": "{\"temperature\": 22, \"sky\": \"clear\"}",
            },
        ],
    },
    "tools_offered": {
        "tools": [WEATHER_TOOL],
        "messages": [{"role": "user", "content": "Is it raining in Oslo?"}],
    },
    "roles_not_alternating": {
        "messages": [
            {"role": "user", "content": "First."},
            {"role": "user", "content": "Second."},
        ]
    },
    "qwen3_no_thinking": {
        "extra": {"enable_thinking": False},
        "messages": [{"role": "user", "content": "Say hi."}],
    },
}

# conversations each template is rendered with (all of them for every template unless limited here)
ONLY = {
    "roles_not_alternating": {
        "messages": [
            {"role": "user", "content": "First."},
            {"role": "user", "content": "Second."},
        ]
    },
    "qwen3_no_thinking": {"Qwen-Qwen3-0.6B.jinja"},
    "roles_not_alternating": {
        "Mistral-Small-3.2-24B-Instruct-2506.jinja",
        "unsloth-mistral-Devstral-Small-2507.jinja",
        "meta-llama-Llama-3.1-8B-Instruct.jinja",
    },
}


def render(source, conversation, add_generation_prompt, special_tokens):
    kwargs = dict(special_tokens)
    kwargs.update(conversation.get("extra", {}))
    rendered, _ = chat_template_utils.render_jinja_template(
        conversations=[conversation["messages"]],
        tools=conversation.get("tools"),
        chat_template=source,
        add_generation_prompt=add_generation_prompt,
        **kwargs,
    )
    return rendered[0]


def main():
    cases = []
    for template, special_tokens in TEMPLATES.items():
        source = (TEMPLATE_DIR / template).read_text()
        for name, conversation in CONVERSATIONS.items():
            if name in ONLY and template not in ONLY[name]:
                continue
            for add_generation_prompt in (True, False):
                case = {
                    "template": template,
                    "conversation": name,
                    "add_generation_prompt": add_generation_prompt,
                    "special_tokens": special_tokens,
                    "messages": conversation["messages"],
                    "tools": conversation.get("tools"),
                    "extra": conversation.get("extra", {}),
                }
                try:
                    case["expected"] = render(source, conversation, add_generation_prompt, special_tokens)
                except Exception as error:  # noqa: BLE001 - any template error is an expected outcome
                    case["error"] = f"{type(error).__name__}: {error}"
                    if conversation.get("tools") is None and "'NoneType' object is not iterable" in str(error):
                        # minijinja iterates `none` as empty where Jinja2 raises; record what Jinja2 renders
                        # for an empty tool list, which is what we render instead of failing.
                        case["expected_if_none_iterates_empty"] = render(
                            source, {**conversation, "tools": []}, add_generation_prompt, special_tokens
                        )
                cases.append(case)
    out = {
        "generator": f"transformers {transformers.__version__} render_jinja_template",
        "now": FIXED_NOW.isoformat(),
        "cases": cases,
    }
    path = TEMPLATE_DIR / "expected.json"
    path.write_text(json.dumps(out, indent=1, ensure_ascii=False) + "\n")
    errors = sum("error" in case for case in cases)
    print(f"wrote {len(cases)} cases ({errors} errors) to {path}")


if __name__ == "__main__":
    main()
