"""The baseline every benchmark divides by: a bare asyncio + openai loop, what a person writes by hand.

Reads the items (JSON lines with sender, subject, body, label), sends one chat completion per item
with the same system and user text the harness renders, at most ``--concurrency`` in flight behind an
``asyncio.Semaphore``, then writes the answers (JSON lines) and prints the accuracy. Imports only the
standard library, ``openai`` and the prompt text from ``bench/_common.py``, so its start-up is the
bare minimum too.

    python bench/bare_loop.py ITEMS.jsonl BASE_URL [--concurrency 16] [--out answers.jsonl]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import openai
from _common import MAX_TOKENS, SYSTEM, USER  # the same text the harness's template renders (bench/_common.py)


async def main(items_path: str, base_url: str, concurrency: int, out: str | None) -> dict:
    items = [json.loads(line) for line in open(items_path, encoding="utf-8") if line.strip()]
    client = openai.AsyncOpenAI(base_url=base_url, api_key="not-needed", max_retries=0, timeout=60)
    gate = asyncio.Semaphore(concurrency)

    async def one(item: dict) -> str:
        async with gate:
            reply = await client.chat.completions.create(
                model="stub-model", temperature=0, max_tokens=MAX_TOKENS,
                messages=[{"role": "system", "content": SYSTEM},
                          {"role": "user", "content": USER.format(**item)}],
            )
            return (reply.choices[0].message.content or "").strip()

    start = time.perf_counter()
    answers = await asyncio.gather(*(one(item) for item in items))
    loop_s = time.perf_counter() - start
    await client.close()
    if out:
        with open(out, "w", encoding="utf-8") as sink:
            for item, answer in zip(items, answers):
                sink.write(json.dumps({"id": item["id"], "answer": answer, "label": item["label"]}) + "\n")
    correct = sum(a == item["label"] for a, item in zip(answers, items))
    return {"items": len(items), "accuracy": correct / max(1, len(items)), "loop_s": loop_s}


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("items")
    parser.add_argument("base_url")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--out", default=None)
    args = parser.parse_args()
    print(json.dumps(asyncio.run(main(args.items, args.base_url, args.concurrency, args.out))))
