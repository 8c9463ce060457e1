"""Every sentence the bot says that does not come from the knowledge file, in one place
so that it can be reviewed and changed without touching code. Plain text: the Telegram
layer escapes it before sending."""

from __future__ import annotations

from bot.knowledge import Contact

SUGGEST_INTRO = "Mình chưa chắc đã hiểu đúng ý bạn. Có phải bạn muốn hỏi…"
SUGGEST_NONE = "Không phải — gặp nhân viên hỗ trợ"
HANDOFF_INTRO = (
    "Xin lỗi bạn, câu hỏi này nằm ngoài những gì mình có thể trả lời chắc chắn. "
    "Đội ngũ chăm sóc khách hàng sẽ hỗ trợ bạn trực tiếp:"
)
HANDOFF_CHOSEN = "Vâng, mình chuyển bạn tới đội ngũ hỗ trợ. Bạn có thể liên hệ:"
RELATED_INTRO = "Bạn có thể hỏi tiếp:"
EMPTY_QUESTION = "Bạn hãy nhập câu hỏi bằng chữ nhé, ví dụ: «CSO và CMO khác nhau thế nào?»"

CONTACT_PHONE = "📞 Điện thoại: {phone}"
CONTACT_EMAIL = "✉️ Email: {email}"
CONTACT_ADDRESS = "📍 Địa chỉ: {address}"
CONTACT_HOURS = "🕐 Thời gian hỗ trợ: {hours}"

# Terminal chat
CHAT_WELCOME = (
    "Trợ lý hỗ trợ khách hàng (chế độ trò chuyện trên máy). "
    "Gõ câu hỏi rồi nhấn Enter; gõ số để chọn gợi ý; gõ «thoát» hoặc Ctrl+D để kết thúc."
)
CHAT_NO_TOKEN = (
    "Chưa có BOT_TOKEN: đang chạy trò chuyện trên máy. Để kết nối Telegram, "
    "tạo bot với @BotFather rồi đặt BOT_TOKEN trong tệp .env (xem README)."
)
CHAT_BYE = "Tạm biệt bạn!"
CHAT_EXIT_WORDS = frozenset({"thoát", "thoat", "exit", "quit", "/exit", "/quit"})
CHAT_PROMPT = "Bạn: "
CHAT_BOT = "Bot: "

# Telegram
FEEDBACK_QUESTION = "Câu trả lời có hữu ích không?"
FEEDBACK_THANKS_UP = "Cảm ơn bạn đã đánh giá! 👍"
FEEDBACK_THANKS_DOWN = "Cảm ơn bạn đã góp ý, mình sẽ cố gắng trả lời tốt hơn."
NON_TEXT = (
    "Hiện mình chỉ đọc được tin nhắn chữ thôi ạ. "
    "Bạn vui lòng gõ câu hỏi của mình, ví dụ: «CMO cần những kỹ năng gì?»"
)
STALE_BUTTON = "Nút này đã hết hạn. Bạn vui lòng gõ lại câu hỏi nhé."
FEEDBACK_UP = "👍"
FEEDBACK_DOWN = "👎"
START_GREETING = "Xin chào {name}! 👋"
START_GREETING_ANONYMOUS = "Xin chào bạn! 👋"
START_TOPICS = "Bạn muốn tìm hiểu chủ đề nào?"
CONTACT_CARD_NAME = "Hỗ trợ khách hàng"
HANDOFF_QUESTION = "Câu hỏi bạn đã gửi: «{question}»"
MENTION_ONLY = "Mình đây! Bạn muốn hỏi gì về CSO hoặc CMO ạ?"
UNKNOWN_COMMAND = (
    "Mình chưa hiểu lệnh này. Bạn có thể dùng /start, /help, /contact "
    "hoặc gõ câu hỏi trực tiếp nhé."
)
ERROR_REPLY = (
    "Xin lỗi bạn, mình vừa gặp sự cố nên chưa trả lời được. "
    "Bạn vui lòng thử lại sau ít phút, hoặc gõ /contact để liên hệ đội ngũ hỗ trợ."
)

TOPIC_BUTTONS: tuple[tuple[str, str], ...] = (
    ("cso_role", "CSO"),
    ("cmo_role", "CMO"),
    ("cso_vs_cmo", "Khác biệt"),
    ("collaboration", "Hợp tác"),
    ("when_needed", "Khi nào cần"),
    ("cso_skills", "Kỹ năng CSO"),
    ("cmo_skills", "Kỹ năng CMO"),
    ("contact", "Liên hệ"),
)

COMMANDS: tuple[tuple[str, str], ...] = (
    ("start", "Bắt đầu và xem các chủ đề"),
    ("help", "Bot làm được gì"),
    ("contact", "Thông tin liên hệ hỗ trợ"),
)


# Flood control (bot/flood.py)
# (texts for flood control go here)

# Live handoff to operators (bot/handoff.py, bot/handlers/operators.py)
# (texts for live handoff go here)

# Admin commands and reports (bot/handlers/admin.py, bot/reports.py)
# (texts for admin commands and reports go here)


# Start-up problems (one line on stderr, exit code 2), in the style of settings.load_settings
CONFIG_NO_TOKEN = (
    "Cấu hình không hợp lệ: BOT_TOKEN: cần có để chạy bot Telegram (tạo bot với @BotFather)"
)
CONFIG_NO_WEBHOOK_URL = (
    "Cấu hình không hợp lệ: WEBHOOK_URL: cần có cho chế độ webhook (địa chỉ HTTPS công khai)"
)
CONFIG_TOKEN_REJECTED = "Cấu hình không hợp lệ: BOT_TOKEN: Telegram từ chối token này"


def contact_lines(contact: Contact) -> list[str]:
    lines = [CONTACT_PHONE.format(phone=contact.phone_display or contact.phone)]
    if contact.email:
        lines.append(CONTACT_EMAIL.format(email=contact.email))
    lines.append(CONTACT_ADDRESS.format(address=contact.address))
    lines.append(CONTACT_HOURS.format(hours=contact.hours))
    return lines


CLI_DESCRIPTION = (
    "Trợ lý hỗ trợ khách hàng về CSO và CMO (Telegram, trò chuyện trên máy, đánh giá)."
)
