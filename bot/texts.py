"""Every sentence the bot says that does not come from the knowledge file, in one place
so that it can be reviewed and changed without touching code. Plain text: the Telegram
layer escapes it before sending."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the knowledge schema reads its default texts from here
    from bot.engine.knowledge import Contact

SUGGEST_INTRO = "Mình chưa chắc đã hiểu đúng ý bạn. Có phải bạn muốn hỏi…"
SUGGEST_NONE = "Không phải — gặp nhân viên hỗ trợ"
HANDOFF_INTRO = (
    "Xin lỗi bạn, câu hỏi này nằm ngoài những gì mình có thể trả lời chắc chắn. "
    "Đội ngũ chăm sóc khách hàng sẽ hỗ trợ bạn trực tiếp:"
)
HANDOFF_CHOSEN = "Vâng, mình chuyển bạn tới đội ngũ hỗ trợ. Bạn có thể liên hệ:"
RELATED_INTRO = "Bạn có thể hỏi tiếp:"
EMPTY_QUESTION = (
    "Bạn hãy nhập câu hỏi bằng chữ nhé. Gõ /help để xem những chủ đề mình có thể trả lời."
)

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
    "Bạn vui lòng gõ câu hỏi của mình, hoặc gõ /help để xem các chủ đề."
)
STALE_BUTTON = "Nút này đã hết hạn. Bạn vui lòng gõ lại câu hỏi nhé."
FEEDBACK_UP = "👍"
FEEDBACK_DOWN = "👎"
START_GREETING = "Xin chào {name}! 👋"
START_GREETING_ANONYMOUS = "Xin chào bạn! 👋"
START_TOPICS = "Bạn muốn tìm hiểu chủ đề nào?"
CONTACT_CARD_NAME = "Hỗ trợ khách hàng"
HANDOFF_QUESTION = "Câu hỏi bạn đã gửi: «{question}»"
MENTION_ONLY = "Mình đây! Bạn muốn hỏi gì ạ?"
UNKNOWN_COMMAND = (
    "Mình chưa hiểu lệnh này. Bạn có thể dùng /start, /help, /contact "
    "hoặc gõ câu hỏi trực tiếp nhé."
)
ERROR_REPLY = (
    "Xin lỗi bạn, mình vừa gặp sự cố nên chưa trả lời được. "
    "Bạn vui lòng thử lại sau ít phút, hoặc gõ /contact để liên hệ đội ngũ hỗ trợ."
)

COMMANDS: tuple[tuple[str, str], ...] = (
    ("start", "Bắt đầu và xem các chủ đề"),
    ("help", "Bot làm được gì"),
    ("contact", "Thông tin liên hệ hỗ trợ"),
)


# Flood control (bot/flood.py)
# A chat message for the first message over the limit, and the pop-up of a button pressed
# over the limit (at most 200 characters).
FLOOD_NOTICE = "Bạn gửi hơi nhanh rồi ạ 🙏 Bạn vui lòng đợi vài giây rồi gửi tiếp nhé."
# Said once in a group whose mentions come faster than Telegram lets the bot answer there
# (about 20 messages a minute per group); also a button pop-up (at most 200 characters).
GROUP_FLOOD_NOTICE = (
    "Mọi người đang hỏi mình hơi nhiều cùng lúc ạ 🙏 Trong nhóm, mình chỉ trả lời được vài tin "
    "mỗi phút, mọi người vui lòng đợi một chút rồi hỏi tiếp, hoặc nhắn riêng cho mình nhé."
)
# Said once to a chat whose earlier messages are still waiting for their answers (Telegram is
# slowing the bot's replies there); also a button pop-up (at most 200 characters).
BUSY_NOTICE = (
    "Mình vẫn đang trả lời các tin nhắn trước ạ 🙏 Bạn vui lòng đợi một chút rồi hãy gửi tiếp nhé."
)

# Live handoff to operators (bot/handoff.py, bot/handlers/operators.py)
PERSON_BUTTON = "Chuyển cho nhân viên hỗ trợ"
PERSON_OFFER = (
    "Có vẻ mình chưa giúp được bạn. Bạn có muốn trò chuyện trực tiếp với nhân viên hỗ trợ không?"
)
HANDOFF_STARTED = (
    "Mình đã chuyển bạn tới nhân viên hỗ trợ. Bạn cứ nhắn tiếp ở đây, "
    "nhân viên sẽ trả lời bạn ngay trong cuộc trò chuyện này. "
    "Khi xong, bạn gõ /ketthuc để quay lại trò chuyện với bot."
)
HANDOFF_ALREADY = (
    "Bạn đang được kết nối với nhân viên hỗ trợ, bạn cứ nhắn tiếp ở đây nhé. "
    "Khi xong, bạn gõ /ketthuc để quay lại trò chuyện với bot."
)
# The customer's own way out of a live handoff (the command takes no diacritics).
END_HANDOFF_COMMANDS = ("ketthuc", "end")
HANDOFF_TIMEOUT_NOTICE = (
    "Xin lỗi bạn, hiện các nhân viên hỗ trợ đều đang bận nên chưa trả lời được. "
    "Tin nhắn của bạn vẫn được giữ lại; nếu cần gấp, bạn vui lòng gọi {phone}."
)
HANDOFF_CLOSED_USER = (
    "Nhân viên hỗ trợ đã kết thúc cuộc trò chuyện. Từ bây giờ mình sẽ tiếp tục trả lời bạn. "
    "Bạn thấy sự hỗ trợ vừa rồi thế nào?"
)
HANDOFF_ENDED_USER = (
    "Bạn đã kết thúc cuộc trò chuyện với nhân viên hỗ trợ. Từ bây giờ mình sẽ tiếp tục trả lời "
    "bạn. Bạn thấy sự hỗ trợ vừa rồi thế nào?"
)
RATING_LABEL = "{stars} ⭐"
RATING_THANKS = "Cảm ơn bạn đã đánh giá!"
RATING_TOO_LATE = "Cuộc trò chuyện này đã được đánh giá rồi, cảm ơn bạn."
HANDOFF_RELAY_FAILED = "Không gửi được tin này cho khách: {reason}"
# Above an operator's corrected message when the copy the customer got could not be edited.
HANDOFF_CORRECTED = "✏️ Nhân viên hỗ trợ đã sửa lại tin nhắn trước:"
# Once, when too many of the customer's messages are still waiting for the operators.
HANDOFF_QUEUE_FULL = (
    "Nhân viên hỗ trợ chưa kịp nhận hết các tin bạn vừa gửi, nên tin này và các tin tiếp theo "
    "trong lúc này chưa được chuyển đi. Bạn vui lòng đợi một lát rồi gửi lại giúp mình nhé."
)
# In the operators' group (the operators read these, in the topic of the user)
CLOSE_BUTTON = "✅ Đóng hội thoại"
OPERATOR_CARD_TITLE = "🙋 Khách cần hỗ trợ: {name}"
OPERATOR_CARD_LANGUAGE = "Ngôn ngữ: {language}"
OPERATOR_CARD_USERNAME = "Tài khoản: @{username}"
OPERATOR_CARD_QUESTIONS = "Các câu hỏi gần đây và dự đoán của bot:"
OPERATOR_CARD_QUESTION = "• «{question}» → {guess} ({action}, {confidence:.0%})"
OPERATOR_CARD_NO_QUESTIONS = "Khách chưa hỏi câu nào."
OPERATOR_CARD_HINT = (
    "Trả lời ngay trong chủ đề này, bot sẽ chuyển cho khách. Gõ /close hoặc bấm nút "
    "bên dưới khi xong."
)
OPERATOR_NO_GUESS = "chưa rõ"
OPERATOR_ACTIONS = {"answer": "đã trả lời", "suggest": "đã gợi ý", "handoff": "chuyển nhân viên"}
OPERATOR_CLOSED = "✅ Đã đóng hội thoại. Khách quay lại trò chuyện với bot."
OPERATOR_NOT_OPEN = "Hội thoại này không còn mở."
OPERATOR_CUSTOMER_ENDED = "👋 Khách đã kết thúc hội thoại và quay lại trò chuyện với bot."
OPERATOR_RATED = "Khách đánh giá: {stars}"
OPERATOR_TIMEOUT = (
    "⏰ Chưa có nhân viên trả lời sau {minutes} phút; bot đã báo khách số điện thoại."
)
OPERATOR_UNKNOWN_TOPIC = "Chủ đề này không gắn với khách nào."
OPERATOR_BLOCKED = "khách đã chặn bot"
OPERATOR_NOT_RELAYED_AS_CHANNEL = (
    "Tin gửi dưới tên kênh «{name}» không được chuyển cho khách. Bạn vui lòng trả lời bằng "
    "tài khoản của mình hoặc ẩn danh dưới tên nhóm."
)
TOPIC_NAME = "{name} · {key}"

# Admin commands and reports (bot/handlers/admin.py, bot/reports.py)
# Reports (bot/reports.py): numbers are written the Vietnamese way, 1.234 and 4,5.
STATS_TITLE = "📊 Thống kê"
STATS_TODAY = "Hôm nay: {count} câu hỏi"
STATS_WEEK = "7 ngày qua: {count} câu hỏi"
STATS_TOTAL = "Từ trước đến nay: {count} câu hỏi"
STATS_SHARES = "Trả lời ngay {answer} · Gợi ý {suggest} · Chuyển nhân viên {handoff}"
STATS_VOTES_TITLE = "👍/👎 theo chủ đề (7 ngày qua):"
STATS_VOTES_LINE = "• {intent}: 👍 {up} · 👎 {down}"
STATS_NO_VOTES = "Chưa có lượt đánh giá nào."
STATS_HANDOFFS_TITLE = "🙋 Chuyển nhân viên (7 ngày qua):"
STATS_HANDOFFS = "Đã mở {opened} · Đã kết thúc {closed} · Đang chờ hoặc đang hỗ trợ {open}"
STATS_FIRST_REPLY = "Thời gian chờ nhân viên trả lời (trung vị): {duration}"
STATS_RATING = "Đánh giá trung bình của khách: {rating}/5 ({count} lượt)"
STATS_NO_DATA = "chưa có dữ liệu"
STATS_NO_RATING = "Đánh giá trung bình của khách: chưa có lượt đánh giá nào"
# First line of /stats while the database cannot be written (one line; {error} is SQLite's).
STATS_DATABASE_FAILING = (
    "⚠️ Cơ sở dữ liệu không ghi được từ {since}: {failed} lần ghi thất bại, {kept} bản ghi "
    "đang chờ ghi lại, {dropped} bản ghi đã phải bỏ. Bot vẫn trả lời khách bình thường, nhưng "
    "số liệu dưới đây chưa gồm các bản ghi đang chờ. Lỗi: {error}"
)
DURATION_SECONDS = "{seconds} giây"
DURATION_MINUTES = "{minutes} phút"
DURATION_HOURS = "{hours} giờ {minutes} phút"
DURATION_DAYS = "{days} ngày {hours} giờ"
INTENT_WITH_TITLE = "{intent} ({title})"
UNANSWERED_TITLE = "❓ Câu hỏi cần bổ sung câu trả lời: {questions} câu, {groups} nhóm"
UNANSWERED_TITLE_DAYS = (
    "❓ Câu hỏi cần bổ sung câu trả lời ({days} ngày qua): {questions} câu, {groups} nhóm"
)
UNANSWERED_GROUP = "{number}. «{question}» — {count} lần"
UNANSWERED_GUESS = "    Gần nhất với: {intent}"
UNANSWERED_MORE = "… và {count} nhóm khác (xuất tệp CSV để xem đầy đủ)."
UNANSWERED_NONE = "Chưa có câu hỏi nào cần bổ sung 🎉"
DATABASE_UNAVAILABLE = "Không mở được cơ sở dữ liệu: {error}"
CSV_WRITTEN = "Đã ghi {rows} câu hỏi vào tệp {file}"
ADMIN_COMMANDS: tuple[tuple[str, str], ...] = (
    ("unanswered", "Câu hỏi bot chưa trả lời được"),
    ("assign", "Gán câu hỏi vào một chủ đề"),
    ("reload", "Nạp lại tệp kiến thức"),
    ("stats", "Thống kê câu hỏi và hỗ trợ"),
)
ADMIN_UNANSWERED_PICK = "Bấm vào một nhóm để gán nó vào chủ đề phù hợp:"
ADMIN_GROUP_BUTTON = "#{id} · {question} ({count})"
ADMIN_CSV_CAPTION = "Danh sách đầy đủ, mỗi câu hỏi một dòng (mở được bằng Excel)."
ADMIN_ASSIGN_PICK = "Câu hỏi #{id} «{question}» ({count} lần). Bạn chọn chủ đề phù hợp:"
ADMIN_BEST_GUESS_BUTTON = "👉 {title}"
ADMIN_ASSIGN_DONE = (
    "Đã thêm «{question}» làm một cách hỏi mới cho chủ đề «{title}». Bot áp dụng ngay; "
    "{count} câu hỏi của nhóm đã được đánh dấu là đã xử lý."
)
ADMIN_ASSIGN_ALREADY = (
    "Chủ đề «{title}» đã có sẵn cách hỏi này; {count} câu hỏi của nhóm đã được đánh dấu "
    "là đã xử lý."
)
ADMIN_ASSIGN_DUPLICATE = (
    "Không thêm: «{question}» trùng với cách hỏi «{existing}» đã có trong chủ đề «{title}»."
)
ADMIN_ASSIGN_UNKNOWN_INTENT = "Không có chủ đề mã «{intent}». Gõ /assign để xem các mã chủ đề."
ADMIN_ASSIGN_EMPTY = "Câu hỏi này không có chữ nào để thêm."
ADMIN_ASSIGN_NO_QUESTION = (
    "Không tìm thấy câu hỏi #{id}, hoặc nội dung của nó đã được xoá theo thời hạn lưu trữ."
)
ADMIN_ASSIGN_GONE = "Nhóm này đã được xử lý rồi. Gõ /unanswered để xem danh sách mới."
ADMIN_ASSIGN_FAILED = "Chưa sửa được tệp kiến thức nên bot vẫn dùng nội dung cũ. Lỗi: {error}"
ADMIN_ASSIGN_USAGE = (
    "Cách dùng: /assign <số câu hỏi> <mã chủ đề>, ví dụ: /assign 42 contact\n"
    "Số câu hỏi (#42) có trên các nút dưới danh sách /unanswered (bấm nút để chọn chủ đề "
    "ngay) và ở cột ma_cau_hoi của tệp CSV.\n\nCác mã chủ đề:"
)
ADMIN_INTENT_LINE = "• {intent} — {title}"
ADMIN_RELOAD_DONE = (
    "Đã nạp lại tệp kiến thức: {entries} chủ đề, {questions} cách hỏi. "
    "Bot trả lời theo nội dung mới ngay từ bây giờ."
)
ADMIN_RELOAD_FAILED = "Tệp kiến thức có lỗi nên bot vẫn dùng nội dung cũ. Lỗi: {error}"


# Start-up problems (one line on stderr, exit code 2), in the style of settings.load_settings
CONFIG_NO_TOKEN = (
    "Cấu hình không hợp lệ: BOT_TOKEN: cần có để chạy bot Telegram (tạo bot với @BotFather)"
)
CONFIG_NO_WEBHOOK_URL = (
    "Cấu hình không hợp lệ: WEBHOOK_URL: cần có cho chế độ webhook (địa chỉ HTTPS công khai)"
)
CONFIG_WEBHOOK_SECRET_SHARED = (
    "Cấu hình không hợp lệ: WEBHOOK_SECRET: cần có khi dùng REDIS_URL ở chế độ webhook (các bản "
    "chạy cùng nhận tin nhắn phải dùng chung một mã bí mật)"
)
CONFIG_TOKEN_REJECTED = "Cấu hình không hợp lệ: BOT_TOKEN: Telegram từ chối token này"
CONFIG_DATA_DIR = "Cấu hình không hợp lệ: DATA_DIR: không mở được cơ sở dữ liệu ({reason})"
CONFIG_DATABASE_URL = "Cấu hình không hợp lệ: DATABASE_URL: không mở được cơ sở dữ liệu ({reason})"
MIGRATED = "Cơ sở dữ liệu {database}: phiên bản {revision}, mới nhất"
CONFIG_DATA_DIR_BUSY = (
    "Cấu hình không hợp lệ: DATA_DIR: thư mục {path} đang được một bot khác sử dụng (tiến trình "
    "{pid}); mỗi thư mục dữ liệu chỉ dành cho một bot đang chạy"
)
CONFIG_REDIS_UNREACHABLE = (
    "Cấu hình không hợp lệ: REDIS_URL: không kết nối được tới Redis ({reason}); kiểm tra địa chỉ "
    "và mật khẩu, hoặc bỏ REDIS_URL để chạy một phiên bản duy nhất"
)
CONFIG_UPDATES_CONFLICT = (
    "Cấu hình không hợp lệ: BOT_TOKEN: tin nhắn của bot này đang được nhận ở nơi khác (một bot "
    "khác chạy cùng token, hoặc một webhook đã được đặt), nên bot dừng lại. Telegram báo: {reason}"
)


def contact_lines(contact: Contact) -> list[str]:
    lines = [CONTACT_PHONE.format(phone=contact.phone_display or contact.phone)]
    if contact.email:
        lines.append(CONTACT_EMAIL.format(email=contact.email))
    lines.append(CONTACT_ADDRESS.format(address=contact.address))
    lines.append(CONTACT_HOURS.format(hours=contact.hours))
    return lines


CLI_DESCRIPTION = (
    "Trợ lý trả lời câu hỏi thường gặp của khách hàng (Telegram, trò chuyện trên máy, đánh giá)."
)

# Small talk for a knowledge file without entries of its own (a file's "texts" override them)
DEFAULT_SMALL_TALK_TITLES = {
    "greeting": "Xin chào",
    "thanks": "Cảm ơn",
    "goodbye": "Tạm biệt",
    "help": "Bot có thể giúp gì?",
}
DEFAULT_GREETING = "Xin chào bạn! Mình có thể giúp gì cho bạn ạ?"
DEFAULT_THANKS = "Không có gì ạ! Bạn cần hỏi thêm gì cứ nhắn cho mình nhé."
DEFAULT_GOODBYE = "Tạm biệt bạn! Khi cần, bạn cứ quay lại hỏi mình nhé."
DEFAULT_ABOUT = (
    "Mình là trợ lý tự động (bot) của {organization}, trả lời các câu hỏi thường gặp; "
    "khi cần, mình chuyển bạn tới nhân viên hỗ trợ."
)
DEFAULT_HELP_TOPICS = "Bạn có thể hỏi mình về:"
DEFAULT_HELP_END = "Bạn cứ gõ câu hỏi, hoặc gõ /contact để liên hệ nhân viên hỗ trợ."
HELP_TOPICS_SHOWN = 12

# `python -m bot check`
CHECK_OK = "{path}: OK ({entries} entries)"
CHECK_WARNING = "{path}: warning: {warning}"
CHECK_FEW_QUESTIONS = (
    "entry {id!r} has {count} phrasing(s); {minimum} or more help the bot recognise it"
)

# `python -m bot import`: a draft knowledge file from an article, for a person to review
IMPORT_FOUND = "Đã đọc {source}: {sections} mục, {faq} cặp hỏi–đáp."
IMPORT_WRITTEN = "Đã ghi bản nháp {entries} chủ đề vào {out}."
IMPORT_REVIEW = "Đây là bản nháp: người duyệt đọc lại từng câu trả lời và bổ sung:"
IMPORT_PHRASINGS = (
    "• Cách hỏi: mỗi chủ đề mới có {count} (tiêu đề hoặc câu hỏi của bài); thêm cho mỗi chủ đề "
    "ít nhất {more} cách hỏi nữa, như khách hàng thật sự gõ (check cảnh báo khi dưới {minimum})."
)
IMPORT_CONTACT_MISSING = "• Liên hệ: bài không ghi {fields}; hãy điền vào khối contact."
IMPORT_FIELD_NAMES = {
    "organization": "tên tổ chức",
    "phone": "số điện thoại",
    "address": "địa chỉ",
    "hours": "giờ làm việc",
    "email": "email",
}
IMPORT_EMAIL_HIDDEN = (
    "• Email: trang đã che địa chỉ email ([email protected]) nên bản nháp để trống; "
    "đặt CONTACT_EMAIL hoặc điền email thật."
)
IMPORT_ORGANIZATION_GUESS = (
    "• Tên tổ chức «{name}» lấy từ tên riêng đặt trong ngoặc kép của bài: hãy kiểm tra lại."
)
IMPORT_CONTACT_ENTRY = (
    "• Mục «{title}» chứa thông tin liên hệ nên mang mã contact "
    "(bot gắn thẻ liên hệ vào câu trả lời này và dùng nó cho lệnh /contact)."
)
IMPORT_SHORTENED = "• Câu trả lời rút gọn cho vừa {limit} ký tự: {ids}; xem lại phần bị bỏ."
IMPORT_EMPTY_HEADINGS = "• Tiêu đề không có nội dung riêng nên không thành chủ đề: {titles}."
IMPORT_LEAD = "• Đoạn mở đầu ({chars} ký tự) không nằm dưới tiêu đề nào nên chưa thành chủ đề."
IMPORT_UNANSWERED = "• Câu hỏi không có câu trả lời trong bài nên chưa thành chủ đề: {questions}."
IMPORT_CHECK_HINT = "Kiểm tra bản nháp: KNOWLEDGE_FILE={out} python -m bot check"
IMPORT_UNREADABLE = "Không đọc được {source}: {reason}"
IMPORT_NO_FILE = "không có tệp này"
IMPORT_IS_DIRECTORY = "đây là thư mục, không phải tệp"
IMPORT_TOO_LARGE = "lớn hơn {mb} MB"
IMPORT_NOT_UTF8 = "không phải văn bản UTF-8"
IMPORT_TIMEOUT = "không có phản hồi sau {seconds} giây"
IMPORT_NOT_TEXT = "không phải trang HTML hay văn bản ({content_type})"
IMPORT_SCHEME = "chỉ đọc được tệp trên máy hoặc địa chỉ http:// và https://"
IMPORT_NOTHING = (
    "Không tìm thấy mục hay cặp hỏi–đáp nào trong {source}: "
    "bài cần có tiêu đề, dưới mỗi tiêu đề là đoạn văn hoặc danh sách."
)
IMPORT_OUT_EXISTS = "Tệp {out} đã có; chọn tên khác hoặc thêm --force để ghi đè."
IMPORT_OUT_FAILED = "Không ghi được {out}: {reason}"
