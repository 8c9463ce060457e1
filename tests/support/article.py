"""The seed article's own headings and FAQ (tests/data/import/), as a reader of the article
sees them: what an import of it must find."""

from __future__ import annotations

from pathlib import Path

DATA = Path(__file__).resolve().parents[1] / "data" / "import"
ARTICLE_TXT = DATA / "cso-vs-cmo-article.txt"
ARTICLE_HTML = DATA / "cso-vs-cmo-article.html"

SECTIONS = [
    "Chief Sales Officer (CSO) – Thủ lĩnh Tuyến Đầu",
    "Chief Marketing Officer (CMO) – Kiến trúc sư Thương hiệu",
    "Điểm Giao Thoa và Hợp Tác",
    "Khi Nào Doanh Nghiệp Cần CSO và CMO?",
    "Kỹ năng Cần Thiết cho CSO và CMO",
    "Kết luận",
    "Bạn cần hỗ trợ?",
]
FAQ = {
    "Sự khác biệt chính giữa CSO và CMO là gì?": (
        "CSO tập trung vào doanh số và quản lý đội ngũ bán hàng, "
        "CMO tập trung vào xây dựng thương hiệu và tiếp thị."
    ),
    "Doanh nghiệp nhỏ có cần cả CSO và CMO không?": (
        "Không nhất định. Doanh nghiệp nhỏ có thể chỉ cần một người đảm nhiệm cả hai vai trò "
        "hoặc thuê ngoài dịch vụ tiếp thị."
    ),
    "Làm thế nào để CSO và CMO hợp tác hiệu quả?": (
        "Bằng cách giao tiếp rõ ràng, chia sẻ thông tin và phối hợp chiến lược."
    ),
}
