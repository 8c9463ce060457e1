"""`import`: an article becomes a draft knowledge file that keeps to what the text says."""

from __future__ import annotations

import io
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from bot import texts
from bot.engine.knowledge import FEW_QUESTIONS, ID_PATTERN, KnowledgeError, validate_knowledge
from bot.importer.blocks import Heading, Item, Paragraph, parse_html, parse_markdown, parse_plain
from bot.importer.command import EXIT_UNREADABLE, run_import
from bot.importer.draft import MAX_ANSWER_CHARS, Draft, build_draft, slug
from bot.importer.source import SourceError, fetch, read_source
from tests.support.article import ARTICLE_HTML, ARTICLE_TXT, FAQ, SECTIONS

PAGE_TITLE = "Chief Sales Officer Vs Chief Marketing Officer: sự khác biệt nằm ở đâu?"


def _entries(draft: Draft) -> dict[str, dict[str, Any]]:
    return {entry["title"]: entry for entry in draft.data["entries"]}


@pytest.fixture(scope="module")
def text_draft() -> Draft:
    return build_draft(parse_plain(ARTICLE_TXT.read_text(encoding="utf-8")))


@pytest.fixture(scope="module")
def html_draft() -> Draft:
    return build_draft(parse_html(ARTICLE_HTML.read_bytes()))


# ----------------------------------------------------------------------- the article


def test_plain_text_article_sections_and_faq(text_draft: Draft) -> None:
    assert list(text_draft.sections) == SECTIONS
    assert list(text_draft.faq) == list(FAQ)
    assert len(text_draft.data["entries"]) == len(SECTIONS) + len(FAQ)


def test_html_article_sections_and_faq(html_draft: Draft) -> None:
    # The page has a title (h1) over the article's opening paragraph: one section more.
    assert list(html_draft.sections) == [PAGE_TITLE, *SECTIONS]
    assert list(html_draft.faq) == list(FAQ)


@pytest.mark.parametrize("fixture", ["text_draft", "html_draft"])
def test_faq_entries_answer_with_the_articles_answer(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    draft: Draft = request.getfixturevalue(fixture)
    entries = _entries(draft)
    for question, answer in FAQ.items():
        entry = entries[question]
        assert entry["questions"][0] == question
        assert entry["answer"] == answer


@pytest.mark.parametrize("fixture", ["text_draft", "html_draft"])
def test_the_draft_passes_the_schema(fixture: str, request: pytest.FixtureRequest) -> None:
    draft: Draft = request.getfixturevalue(fixture)
    knowledge = validate_knowledge(draft.data, Path("draft.json"))
    ids = [entry["id"] for entry in draft.data["entries"]]
    assert len(ids) == len(set(ids))
    assert all(re.fullmatch(ID_PATTERN, i) for i in ids)
    # One phrasing each (the heading or the question): check asks the reviewer for more.
    assert all(len(entry["questions"]) == 1 for entry in draft.data["entries"])
    assert len(knowledge.warnings()) == len(ids)


@pytest.mark.parametrize("fixture", ["text_draft", "html_draft"])
def test_section_answers_are_the_sections_own_text_with_bullets(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    draft: Draft = request.getfixturevalue(fixture)
    entries = _entries(draft)
    assert entries["Kỹ năng Cần Thiết cho CSO và CMO"]["answer"] == (
        "CSO:\n"
        "• Kỹ năng lãnh đạo và quản lý đội ngũ bán hàng.\n"
        "• Kỹ năng giao tiếp và đàm phán hiệu quả.\n"
        "• Tư duy phân tích và ra quyết định dựa trên dữ liệu.\n"
        "CMO:\n"
        "• Kiến thức chuyên sâu về tiếp thị và xây dựng thương hiệu.\n"
        "• Khả năng sáng tạo và đổi mới.\n"
        "• Kỹ năng phân tích dữ liệu và đo lường hiệu quả tiếp thị."
    )
    cso = entries[SECTIONS[0]]["answer"]
    assert cso.startswith("CSO chịu trách nhiệm trực tiếp về doanh thu")
    assert "\nTrách nhiệm chính của CSO:\n• Xây dựng và thực hiện chiến lược bán hàng." in cso
    # The next heading's text is not part of this answer.
    assert "CMO" not in cso
    for entry in draft.data["entries"]:
        assert 0 < len(entry["answer"]) <= MAX_ANSWER_CHARS


@pytest.mark.parametrize("fixture", ["text_draft", "html_draft"])
def test_contact_comes_from_the_text_and_the_hidden_email_is_dropped(
    fixture: str, request: pytest.FixtureRequest
) -> None:
    draft: Draft = request.getfixturevalue(fixture)
    contact = draft.data["contact"]
    assert contact["phone"] == "02838172459"
    assert contact["address"] == "596 Đ. Hậu Giang, P.12, Quận 6, Hồ Chí Minh 70000, Việt Nam"
    assert contact["hours"] == "24/7"
    assert contact["email"] == ""
    assert draft.hidden_email
    assert "protected" not in json.dumps(draft.data, ensure_ascii=False)
    # The section that gives the contact details is the bot's contact entry.
    entry = _entries(draft)["Bạn cần hỗ trợ?"]
    assert entry["id"] == "contact"
    assert "02838172459" in entry["answer"]


def test_organization_from_the_page_or_a_guess_flagged_for_review(
    text_draft: Draft, html_draft: Draft
) -> None:
    assert html_draft.data["contact"]["organization"] == "Truyền Thông Bóng Đá"
    assert not html_draft.organization_guessed
    assert text_draft.data["contact"]["organization"] == "Truyền Thông Bóng Đá"
    assert text_draft.organization_guessed


def test_the_page_furniture_is_left_out(html_draft: Draft) -> None:
    dumped = json.dumps(html_draft.data, ensure_ascii=False)
    for furniture in ("Trang chủ", "Bài viết liên quan", "CFO là gì", "Chính sách bảo mật"):
        assert furniture not in dumped


def test_headings_without_text_of_their_own_are_reported(text_draft: Draft) -> None:
    assert text_draft.empty_headings[0] == "Vai trò và Trách nhiệm: CSO vs CMO"
    assert text_draft.lead_chars > 0  # the opening paragraph stands under no heading


# ---------------------------------------------------------------- general plain text


def test_numbered_headings_and_numbered_lists() -> None:
    text = (
        "1. Giới thiệu\n"
        "Cửa hàng mở cửa từ năm 2010 và bán đồ gia dụng.\n"
        "2. Cách đặt hàng\n"
        "Bạn đặt hàng theo các bước sau:\n"
        "1. Chọn sản phẩm.\n"
        "2. Điền địa chỉ nhận hàng.\n"
        "Đơn hàng được xác nhận qua tin nhắn.\n"
        "3. Thanh toán\n"
        "3.1 Thanh toán khi nhận hàng\n"
        "Bạn trả tiền mặt cho người giao hàng.\n"
    )
    blocks = parse_plain(text).blocks
    assert blocks[0] == Heading(2, "Giới thiệu")
    assert Item("Chọn sản phẩm.") in blocks
    assert Item("Điền địa chỉ nhận hàng.") in blocks
    assert Heading(3, "Thanh toán khi nhận hàng") in blocks
    draft = build_draft(parse_plain(text))
    assert draft.sections == ("Giới thiệu", "Cách đặt hàng", "Thanh toán khi nhận hàng")
    assert _entries(draft)["Cách đặt hàng"]["answer"] == (
        "Bạn đặt hàng theo các bước sau:\n• Chọn sản phẩm.\n• Điền địa chỉ nhận hàng.\n"
        "Đơn hàng được xác nhận qua tin nhắn."
    )
    assert draft.empty_headings == ("Thanh toán",)
    assert [e["id"] for e in draft.data["entries"]] == [
        "gioi_thieu",
        "cach_dat_hang",
        "thanh_toan_khi_nhan_hang",
    ]


def test_hard_wrapped_paragraphs_are_joined() -> None:
    text = (
        "Giao hàng\n"
        "\n"
        "Chúng tôi giao hàng trong nội thành trong vòng hai giờ kể từ khi\n"
        "đơn được xác nhận, và ngoại thành trong vòng một đến hai ngày làm\n"
        "việc.\n"
        "\n"
        "Đổi trả\n"
        "\n"
        "Sản phẩm lỗi được đổi trong bảy ngày.\n"
    )
    draft = build_draft(parse_plain(text))
    assert draft.sections == ("Giao hàng", "Đổi trả")
    assert _entries(draft)["Giao hàng"]["answer"] == (
        "Chúng tôi giao hàng trong nội thành trong vòng hai giờ kể từ khi đơn được xác nhận, "
        "và ngoại thành trong vòng một đến hai ngày làm việc."
    )


def test_faq_with_question_lines_and_a_closing_heading() -> None:
    text = (
        "Hỏi đáp\n"
        "Phí giao hàng là bao nhiêu?\n"
        "Nội thành 20.000 đồng, ngoại thành 35.000 đồng.\n"
        "Có giao hàng vào Chủ nhật không?\n"
        "Có, từ 8 giờ đến 17 giờ.\n"
        "- Hàng giao trễ thì sao?\n"
        "Bạn gọi tổng đài để được hỗ trợ.\n"
    )
    draft = build_draft(parse_plain(text))
    assert draft.faq == (
        "Phí giao hàng là bao nhiêu?",
        "Có giao hàng vào Chủ nhật không?",
    )
    # A question in another form ends the FAQ: it is a list item of the last answer.
    assert _entries(draft)["Có giao hàng vào Chủ nhật không?"]["answer"] == (
        "Có, từ 8 giờ đến 17 giờ.\n• Hàng giao trễ thì sao?\nBạn gọi tổng đài để được hỗ trợ."
    )


def test_questions_without_answers_are_not_an_faq() -> None:
    text = (
        "Trước khi mua\n"
        "Những câu hỏi bạn nên tự đặt ra:\n"
        "- Mình cần máy lớn hay nhỏ?\n"
        "- Mình dùng mỗi ngày bao lâu?\n"
        "- Ngân sách là bao nhiêu?\n"
    )
    draft = build_draft(parse_plain(text))
    assert draft.faq == ()
    assert draft.sections == ("Trước khi mua",)
    assert "• Ngân sách là bao nhiêu?" in draft.data["entries"][0]["answer"]


def test_a_short_last_line_is_text_not_a_heading() -> None:
    blocks = parse_plain("Giờ mở cửa\nTừ 8 giờ đến 21 giờ mỗi ngày\n").blocks
    assert blocks == (Heading(2, "Giờ mở cửa"), Paragraph("Từ 8 giờ đến 21 giờ mỗi ngày"))


# ------------------------------------------------------------------ Markdown and HTML


def test_markdown() -> None:
    text = (
        "# Cửa hàng Hoa Mai\n\n"
        "## Giờ mở cửa\n\n"
        "Giờ mở cửa: 8:00 – 21:00 mỗi ngày.\n\n"
        "## Sản phẩm\n\n"
        "Chúng tôi bán:\n\n"
        "- **Hoa tươi** theo mùa\n"
        "- Giỏ quà\n"
        "  - giỏ trái cây\n\n"
        "## Câu hỏi thường gặp\n\n"
        "### Có giao hoa trong ngày không?\n\n"
        "Có, với đơn đặt trước 15 giờ.\n\n"
        "### Thanh toán bằng cách nào?\n\n"
        "Tiền mặt hoặc chuyển khoản.\n\n"
        "## Liên hệ\n\n"
        "Hotline: 0903 123 456. Địa chỉ: 12 Lê Lợi, Quận 1, TP. Hồ Chí Minh.\n"
    )
    draft = build_draft(parse_markdown(text))
    assert draft.sections == ("Giờ mở cửa", "Sản phẩm", "Liên hệ")
    assert draft.faq == ("Có giao hoa trong ngày không?", "Thanh toán bằng cách nào?")
    assert draft.empty_headings == ("Cửa hàng Hoa Mai",)
    entries = _entries(draft)
    assert entries["Sản phẩm"]["answer"] == (
        "Chúng tôi bán:\n• Hoa tươi theo mùa\n• Giỏ quà\n  • giỏ trái cây"
    )
    assert entries["Liên hệ"]["id"] == "contact"
    assert draft.data["contact"] == {
        "organization": "",
        "phone": "0903123456",
        "phone_display": "0903 123 456",
        "email": "",
        "address": "12 Lê Lợi, Quận 1, TP. Hồ Chí Minh",
        "hours": "8:00 – 21:00 mỗi ngày",
    }
    assert draft.missing_contact == ("organization", "email")


def test_html_faq_in_details_and_definition_lists() -> None:
    page = (
        "<html><body><article><h1>Cửa hàng ABC</h1>"
        f"<p>{'Cửa hàng ABC bán đồ gia dụng chính hãng với giá tốt. ' * 4}</p>"
        "<h2>Câu hỏi thường gặp</h2>"
        "<details><summary>Phí giao hàng bao nhiêu?</summary>"
        "<p>Phí giao hàng nội thành là 20.000 đồng.</p></details>"
        "<details><summary>Bao lâu thì nhận được hàng?</summary><p>Từ 1 đến 2 ngày.</p>"
        "</details>"
        "<h2>Hỏi đáp về đổi trả</h2><dl><dt>Có đổi trả không?</dt><dd>Có, trong 7 ngày.</dd>"
        "<dt>Đổi ở đâu?</dt><dd>Tại mọi cửa hàng.</dd></dl>"
        "</article></body></html>"
    )
    draft = build_draft(parse_html(page))
    assert draft.faq == (
        "Phí giao hàng bao nhiêu?",
        "Bao lâu thì nhận được hàng?",
        "Có đổi trả không?",
        "Đổi ở đâu?",
    )
    assert _entries(draft)["Có đổi trả không?"]["answer"] == "Có, trong 7 ngày."


# ------------------------------------------------------------------- ids and answers


def test_slug() -> None:
    taken: set[str] = set()
    assert slug("Phí giao hàng ngoại thành?", taken) == "phi_giao_hang_ngoai_thanh"
    assert slug("Phí giao hàng ngoại thành", taken) == "phi_giao_hang_ngoai_thanh_2"
    assert slug("Đổi trả & bảo hành", taken) == "doi_tra_bao_hanh"
    assert slug("2.1 Đăng ký", taken) == "dang_ky"
    assert slug("2024", taken) == "muc_2024"
    assert slug("???", taken) == "muc"
    long = slug("Những điều cần biết trước khi đăng ký gói cước internet cáp quang", taken)
    assert long == "nhung_dieu_can_biet_truoc_khi_dang_ky"  # whole words, at most 40
    for value in taken:
        assert re.fullmatch(ID_PATTERN, value)


def test_a_long_section_is_cut_after_whole_sentences() -> None:
    sentence = "Khách hàng được hỗ trợ cài đặt miễn phí tại nhà trong giờ hành chính. "
    text = f"Cài đặt\n{sentence * 30}\n"
    draft = build_draft(parse_plain(text))
    answer = draft.data["entries"][0]["answer"]
    assert len(answer) <= MAX_ANSWER_CHARS
    assert answer.endswith("giờ hành chính.")
    assert draft.shortened == ("cai_dat",)


def test_nothing_is_invented_when_the_text_gives_no_contact() -> None:
    draft = build_draft(parse_plain("Bảo hành\nMáy được bảo hành 12 tháng.\n"))
    assert draft.data["contact"] == {
        "organization": "",
        "phone": "",
        "phone_display": "",
        "email": "",
        "address": "",
        "hours": "",
    }
    assert draft.missing_contact == ("organization", "phone", "address", "hours", "email")
    # check then names what the reviewer must fill in.
    with pytest.raises(KnowledgeError, match="contact: field 'organization'"):
        validate_knowledge(draft.data, Path("draft.json"))


# ------------------------------------------------------------------ sources and command


def test_unreadable_sources_get_one_line(tmp_path: Path) -> None:
    cases = {
        str(tmp_path / "missing.txt"): texts.IMPORT_NO_FILE,
        str(tmp_path): texts.IMPORT_IS_DIRECTORY,
        "ftp://127.0.0.1/article.txt": texts.IMPORT_SCHEME,
    }
    latin = tmp_path / "latin.txt"
    latin.write_bytes("Giới thiệu\nCửa hàng.\n".encode("utf-16"))
    cases[str(latin)] = texts.IMPORT_NOT_UTF8
    for source, reason in cases.items():
        with pytest.raises(SourceError) as caught:
            read_source(source).document()
        message = str(caught.value)
        assert message == texts.IMPORT_UNREADABLE.format(source=source, reason=reason)
        assert "\n" not in message


def test_run_import_writes_the_draft_and_says_what_to_add(tmp_path: Path) -> None:
    out = tmp_path / "draft.json"
    stdout, stderr = io.StringIO(), io.StringIO()
    assert run_import(str(ARTICLE_TXT), out, stdout=stdout, stderr=stderr) == 0
    assert stderr.getvalue() == ""
    said = stdout.getvalue()
    assert texts.IMPORT_FOUND.format(source=ARTICLE_TXT, sections=7, faq=3) in said
    assert texts.IMPORT_WRITTEN.format(entries=10, out=out) in said
    assert texts.IMPORT_PHRASINGS.format(count=1, more=4, minimum=FEW_QUESTIONS) in said
    assert texts.IMPORT_EMAIL_HIDDEN in said
    assert "«Truyền Thông Bóng Đá»" in said
    data = json.loads(out.read_text(encoding="utf-8"))
    assert len(data["entries"]) == 10

    # A second run does not overwrite the reviewer's work, unless told to.
    out.write_text("{}", encoding="utf-8")
    stderr = io.StringIO()
    assert run_import(str(ARTICLE_TXT), out, stdout=io.StringIO(), stderr=stderr) == 2
    assert stderr.getvalue() == texts.IMPORT_OUT_EXISTS.format(out=out) + "\n"
    assert out.read_text(encoding="utf-8") == "{}"
    assert run_import(str(ARTICLE_TXT), out, force=True, stdout=stdout, stderr=stderr) == 0
    assert json.loads(out.read_text(encoding="utf-8")) == data


def test_run_import_of_a_text_without_structure(tmp_path: Path) -> None:
    source = tmp_path / "note.txt"
    source.write_text("Một dòng chữ duy nhất, không có tiêu đề nào cả.\n", encoding="utf-8")
    stderr = io.StringIO()
    code = run_import(str(source), tmp_path / "d.json", stdout=io.StringIO(), stderr=stderr)
    assert code == EXIT_UNREADABLE
    assert stderr.getvalue() == texts.IMPORT_NOTHING.format(source=source) + "\n"
    assert not (tmp_path / "d.json").exists()


# --------------------------------------------------------------- fetching (loopback)


class _Handler(BaseHTTPRequestHandler):
    routes: ClassVar[dict[str, tuple[int, str, bytes]]] = {}

    def do_GET(self) -> None:
        status, content_type, body = self.routes.get(self.path, (404, "text/plain", b"no"))
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
    _Handler.routes = {
        "/article.html": (200, "text/html; charset=utf-8", ARTICLE_HTML.read_bytes()),
        "/article.txt": (200, "text/plain; charset=utf-8", ARTICLE_TXT.read_bytes()),
        "/notes.md": (200, "text/plain", b"## Giao hang\n\nTrong ngay.\n"),
        "/brochure.pdf": (200, "application/pdf", b"%PDF-1.4"),
    }
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join()


def test_fetch_kinds(server: str) -> None:
    assert fetch(f"{server}/article.html").kind == "html"
    page = fetch(f"{server}/article.txt")
    assert (page.kind, page.charset) == ("text", "utf-8")
    assert build_draft(page.document()).faq == tuple(FAQ)
    assert fetch(f"{server}/notes.md").kind == "markdown"


def test_fetch_errors_are_one_line(server: str) -> None:
    with pytest.raises(SourceError) as caught:
        fetch(f"{server}/gone.html")
    assert str(caught.value) == texts.IMPORT_UNREADABLE.format(
        source=f"{server}/gone.html", reason="HTTP 404 Not Found"
    )
    with pytest.raises(SourceError) as caught:
        fetch(f"{server}/brochure.pdf")
    assert texts.IMPORT_NOT_TEXT.format(content_type="application/pdf") in str(caught.value)


def test_fetch_gives_up_on_a_silent_server() -> None:
    import socket

    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)  # accepts the connection and never answers
        url = f"http://127.0.0.1:{listener.getsockname()[1]}/article.html"
        with pytest.raises(SourceError) as caught:
            fetch(url, timeout=0.5)
    assert str(caught.value) == texts.IMPORT_UNREADABLE.format(
        source=url, reason=texts.IMPORT_TIMEOUT.format(seconds="0.5")
    )
