"""Synthetic knowledge files of any number of entries, in Vietnamese-like text, from a seed.

A made-up business with many products (an object and a two-syllable name: "gói cước Minh
Phát"), each with a few questions (an action on it, in some circumstance: "gia hạn ... qua
ứng dụng"). Entries of one product share its words, and every entry shares the common
objects, actions and function words with many others, as in a large real FAQ, so candidate
pruning cannot rely on one rare word per entry. Each entry has ten phrasings written from
templates (with and without diacritics, chat shorthand, word order varied); two more
phrasings per entry, from templates the file never uses, are kept back as questions.

    .venv/bin/python -m benchmarks.scale.generator --entries 2000 --out /tmp/faq-2000.json

The same seed and size give the same file, byte for byte.
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

SEED = 20240601
PHRASINGS = 10  # per entry, in the file
HELD_OUT = 2  # per entry, kept back as questions
PER_PRODUCT = 4  # entries about one product

OBJECTS = (
    "gói cước", "thẻ thành viên", "tài khoản", "hợp đồng", "đơn hàng", "hóa đơn", "khóa học",
    "vé tháng", "phiếu quà tặng", "bảo hiểm", "sổ tiết kiệm", "khoản vay", "thẻ tín dụng",
    "ví điện tử", "gói bảo hành", "lịch hẹn", "phòng họp", "căn hộ", "xe điện", "máy lọc nước",
    "điều hòa", "tủ lạnh", "gói dữ liệu", "thuê bao", "chương trình tích điểm", "voucher",
    "dịch vụ giao hàng", "dịch vụ vệ sinh", "gói khám sức khỏe", "thẻ gửi xe", "học bổng",
    "phần mềm", "tên miền", "máy chủ", "gói quảng cáo", "cửa hàng trực tuyến", "sản phẩm",
    "đồng hồ", "laptop", "điện thoại", "bộ định tuyến", "camera", "gói truyền hình",
    "tour du lịch", "vé máy bay", "phòng khách sạn", "bữa tiệc", "gói cưới", "lớp yoga",
)  # fmt: skip
ACTIONS = (
    "đăng ký", "hủy", "gia hạn", "thanh toán", "đổi", "trả lại", "nâng cấp", "tạm ngưng",
    "chuyển nhượng", "tra cứu", "kích hoạt", "khôi phục", "đặt trước", "nhận", "sửa",
    "bảo hành", "lắp đặt", "cập nhật", "xác nhận", "in", "chia sẻ", "mua thêm",
)  # fmt: skip
CIRCUMSTANCES = (
    "qua ứng dụng", "tại cửa hàng", "trực tuyến", "cho doanh nghiệp", "cho sinh viên",
    "khi đang ở nước ngoài", "vào cuối tuần", "khi đã quá hạn", "lần đầu", "cho người thân",
    "bằng thẻ ngân hàng", "ở ngoại thành", "trong ngày", "khi mất giấy tờ", "qua tổng đài",
    "sau khi chuyển nhà", "bằng tiền mặt", "vào ngày lễ", "cho trẻ em", "khi có khuyến mãi",
)  # fmt: skip
NAME_SYLLABLES = (
    "Minh", "An", "Phát", "Hoàng", "Tân", "Phú", "Lộc", "Thành", "Hưng", "Long", "Bình",
    "Khang", "Gia", "Bảo", "Hòa", "Thịnh", "Vĩnh", "Quang", "Đức", "Nam", "Việt", "Sơn", "Hải",
    "Phong", "Thái", "Kim", "Ngọc", "Hồng", "Lan", "Mai", "Xuân", "Thu", "Đông", "Sao", "Mây",
    "Sen", "Trúc", "Tùng", "Cúc", "Đào", "Lê", "Trí", "Tín", "Nhân", "Nghĩa", "Hạnh", "Phúc",
    "Khải", "Uy", "Vũ", "Yến", "Quế", "Hương", "Diệp", "Châu", "Linh", "Tâm", "Trung", "Thắng",
)  # fmt: skip
CONTACT = {
    "organization": "Công ty Thử nghiệm Quy mô",
    "phone": "02800000000",
    "phone_display": "028 0000 0000",
    "email": "",
    "address": "1 Đường Thử Nghiệm, TP. Hồ Chí Minh",
    "hours": "8:00–17:00, thứ Hai đến thứ Sáu",
}

# {a}: the action, {o}: the object and its name, {c}: the circumstance.
TEMPLATES = (
    "{a} {o} như thế nào?",
    "Cách {a} {o} {c}?",
    "Mình muốn {a} {o} {c} thì làm sao?",
    "{o} có {a} {c} được không?",
    "Thủ tục {a} {o} gồm những gì?",
    "Cho hỏi {a} {o} {c} mất bao lâu?",
    "{a} {o} {c} có tốn phí không?",
    "Tôi cần giấy tờ gì để {a} {o}?",
    "ad ơi {a} {o} {c} ở đâu vậy",
    "hướng dẫn giúp em {a} {o} {c} với",
    "Muốn {a} {o} thì liên hệ ai?",
    "{o} {a} {c} thế nào ạ?",
)  # fmt: skip
HELD_OUT_TEMPLATES = (
    "Bạn ơi, {a} {o} {c} có được không ạ?",
    "Làm thế nào để mình {a} được {o} {c}?",
    "cho mình hỏi cách {a} {o} với",
    "{o} của tôi muốn {a} {c} thì sao",
)  # fmt: skip
SHORTHAND = (("không", "ko"), ("được", "dc"), ("gì", "j"), ("như thế nào", "ntn"), ("với", "vs"))


def fold(text: str) -> str:
    """``text`` without diacritics."""
    decomposed = unicodedata.normalize("NFD", text.replace("đ", "d").replace("Đ", "D"))
    return "".join(ch for ch in decomposed if not unicodedata.combining(ch))


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", fold(text).lower()).strip("_")


@dataclass(frozen=True, slots=True)
class Topic:
    action: str
    product: str  # the object and its name
    circumstance: str

    def fill(self, template: str) -> str:
        text = template.format(a=self.action, o=self.product, c=self.circumstance)
        return text[:1].upper() + text[1:]


def _variant(text: str, rng: random.Random) -> str:
    """Sometimes typed without diacritics, in chat shorthand, or in lower case."""
    roll = rng.random()
    if roll < 0.2:
        text = fold(text)
    elif roll < 0.4:
        for long, short in SHORTHAND:
            text = re.sub(rf"(?<!\w){long}(?!\w)", short, text)
    if rng.random() < 0.3:
        text = text.lower().rstrip("?")
    return text


def _products(count: int, rng: random.Random) -> list[str]:
    most = len(NAME_SYLLABLES) * (len(NAME_SYLLABLES) - 1)
    if count > most:
        raise ValueError(f"at most {most} products can be named")
    names: set[str] = set()
    products: list[str] = []
    while len(products) < count:
        name = " ".join(rng.sample(NAME_SYLLABLES, 2))
        product = f"{rng.choice(OBJECTS)} {name}"
        if name not in names:
            names.add(name)
            products.append(product)
    return products


def _topics(entries: int, rng: random.Random) -> list[Topic]:
    products = _products(-(-entries // PER_PRODUCT), rng)
    topics: list[Topic] = []
    for product in products:
        actions = rng.sample(ACTIONS, PER_PRODUCT)
        for action in actions:
            topics.append(Topic(action, product, rng.choice(CIRCUMSTANCES)))
    return topics[:entries]


@dataclass(frozen=True, slots=True)
class Generated:
    knowledge: dict[str, Any]
    questions: list[tuple[str, str]]  # (held-out question, the id of the entry it asks)


def generate(entries: int, seed: int = SEED) -> Generated:
    """A knowledge file of `entries` entries of PHRASINGS phrasings each, and HELD_OUT
    questions per entry that the file does not contain."""
    if entries < 1:
        raise ValueError("entries must be at least 1")
    rng = random.Random(f"{seed}-{entries}")
    topics = _topics(entries, rng)
    ids = [f"e{n:04d}_{slug(t.action)}"[:40] for n, t in enumerate(topics)]
    made: list[dict[str, Any]] = []
    held_out: list[tuple[str, str]] = []
    for index, (topic, intent) in enumerate(zip(topics, ids, strict=True)):
        phrasings: dict[str, str] = {}  # casefolded -> as written
        for template in rng.sample(TEMPLATES, len(TEMPLATES)):
            text = _variant(topic.fill(template), rng)
            phrasings.setdefault(text.casefold(), text)
            if len(phrasings) == PHRASINGS:
                break
        first = index - index % PER_PRODUCT  # the product's other entries are related
        siblings = [ids[i] for i in range(first, min(first + PER_PRODUCT, len(ids))) if i != index]
        made.append(
            {
                "id": intent,
                "title": topic.fill("{a} {o} {c}"),
                "questions": list(phrasings.values()),
                "keywords": [topic.product, f"{topic.action} {topic.product}"],
                "answer": (
                    f"Để {topic.action} {topic.product} {topic.circumstance}, bạn mang giấy tờ "
                    f"tùy thân đến quầy giao dịch hoặc gọi tổng đài; yêu cầu được xử lý trong "
                    f"{rng.randint(1, 7)} ngày làm việc."
                ),
                "related": siblings[:3],
            }
        )
        for template in rng.sample(HELD_OUT_TEMPLATES, HELD_OUT):
            held_out.append((_variant(topic.fill(template), rng), intent))
    data = {"version": 1, "contact": CONTACT, "entries": made}
    return Generated(data, held_out)


def write(generated: Generated, out: Path) -> Path:
    """The knowledge file at `out`, its held-out questions beside it (`<stem>.questions.jsonl`,
    the evaluation format: q, expect, kind)."""
    out.write_text(
        json.dumps(generated.knowledge, ensure_ascii=False, indent=1) + "\n", encoding="utf-8"
    )
    questions = out.with_name(out.stem + ".questions.jsonl")
    lines = (
        json.dumps({"q": q, "expect": [intent], "kind": "held_out"}, ensure_ascii=False)
        for q, intent in generated.questions
    )
    questions.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return questions


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks.scale.generator",
        description="Write a synthetic knowledge file and its held-out questions.",
    )
    p.add_argument("--entries", type=int, required=True)
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--out", type=Path, required=True)
    args = p.parse_args(argv)
    questions = write(generate(args.entries, args.seed), args.out)
    print(f"{args.out}: {args.entries} entries; held-out questions in {questions}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
