"""Words people really type, mapped to the words the knowledge file uses.

Pure data, reviewed by people who speak Vietnamese. Keys are compared without diacritics.
``ABBREVIATIONS`` rewrites single whole tokens only (so "k" is "không" but "50k" is not);
``PHRASE_GROUPS`` rewrites multi-word phrases to one canonical phrase, longest match first.
"""

from __future__ import annotations

# One token -> the words it stands for (with diacritics; folding happens afterwards).
ABBREVIATIONS: dict[str, tuple[str, ...]] = {
    # negation / question particles
    "k": ("không",), "ko": ("không",), "kh": ("không",), "khg": ("không",), "hok": ("không",),
    "hong": ("không",), "hk": ("không",), "kg": ("không",), "hem": ("không",), "khong": ("không",),
    "j": ("gì",), "ji": ("gì",), "gi": ("gì",), "z": ("vậy",), "v": ("vậy",), "zay": ("vậy",),
    "ntn": ("như", "thế", "nào"), "sao": ("sao",), "nao": ("nào",),
    # everyday shorthand
    "dc": ("được",), "dk": ("được",), "duoc": ("được",), "đuoc": ("được",),
    "voi": ("với",), "w": ("với",),
    "ng": ("người",), "nguoi": ("người",), "nhg": ("những",), "nhung": ("những",),
    "mn": ("mọi", "người"), "mik": ("mình",), "mk": ("mình",), "mh": ("mình",),
    "bn": ("bạn",), "b": ("bạn",), "ad": ("admin",), "ae": ("anh", "em"),
    "r": ("rồi",), "ok": ("ok",), "oke": ("ok",), "okie": ("ok",),
    "trc": ("trước",), "ns": ("nói",), "bt": ("biết",), "bik": ("biết",), "hiu": ("hiểu",),
    "lm": ("làm",), "vc": ("việc",), "cv": ("công", "việc"), "tn": ("thế", "nào"), "nvu": ("nhiệm", "vụ"),
    "helu": ("chào",), "hellu": ("chào",), "hii": ("chào",), "hiii": ("chào",), "chao": ("chào",),
    "lg": ("lương",), "thág": ("tháng",),
    "sđt": ("số", "điện", "thoại"), "sdt": ("số", "điện", "thoại"), "đt": ("điện", "thoại"),
    "dt": ("điện", "thoại"), "dthoai": ("điện", "thoại"), "hotline": ("số", "điện", "thoại"),
    "dn": ("doanh", "nghiệp"), "dnnvv": ("doanh", "nghiệp", "vừa", "và", "nhỏ"),
    "cty": ("công", "ty"), "ct": ("công", "ty"), "tnhh": ("công", "ty"),
    "mkt": ("marketing",), "mar": ("marketing",), "maketing": ("marketing",),
    "makerting": ("marketing",), "marketting": ("marketing",), "mktg": ("marketing",),
    "gđ": ("giám", "đốc"), "gd": ("giám", "đốc"), "giamdoc": ("giám", "đốc"),
    "sale": ("sales",), "sell": ("bán",), "selling": ("bán", "hàng"),
    "kd": ("kinh", "doanh"), "tt": ("tiếp", "thị"), "th": ("thương", "hiệu"),
    "kn": ("kỹ", "năng"), "kns": ("kỹ", "năng"), "kĩnăng": ("kỹ", "năng"),
    "tks": ("cảm", "ơn"), "thks": ("cảm", "ơn"), "thx": ("cảm", "ơn"),
    "camon": ("cảm", "ơn"), "cmon": ("cảm", "ơn"), "cám": ("cảm",),
    "thanks": ("cảm", "ơn"), "thank": ("cảm", "ơn"), "thankyou": ("cảm", "ơn"),
    "bb": ("tạm", "biệt"), "pp": ("tạm", "biệt"), "bye": ("tạm", "biệt"),
    "byebye": ("tạm", "biệt"), "goodbye": ("tạm", "biệt"),
    "hi": ("chào",), "hello": ("chào",), "helo": ("chào",), "hey": ("chào",), "alo": ("chào",),
    "hallo": ("chào",), "xc": ("xin", "chào"),
    # English words in mixed questions, mapped to the article's Vietnamese.
    "creative": ("sáng", "tạo"), "creativity": ("sáng", "tạo"), "innovation": ("đổi", "mới"),
    "innovative": ("đổi", "mới"), "data": ("dữ", "liệu"), "driven": ("dựa", "trên"),
    "negotiation": ("đàm", "phán"), "negotiate": ("đàm", "phán"), "communication": ("giao", "tiếp"),
    "strategy": ("chiến", "lược"),
    "strategies": ("chiến", "lược"), "customer": ("khách", "hàng"), "customers": ("khách", "hàng"),
    "insight": ("thông", "tin"), "insights": ("thông", "tin"), "share": ("chia", "sẻ"),
    "sharing": ("chia", "sẻ"), "market": ("thị", "trường"), "research": ("nghiên", "cứu"),
    "competitor": ("đối", "thủ"), "competitors": ("đối", "thủ"), "team": ("đội", "ngũ"),
    "target": ("chỉ", "tiêu"), "targets": ("chỉ", "tiêu"),
    "campaign": ("chiến", "dịch"), "campaigns": ("chiến", "dịch"), "analysis": ("phân", "tích"),
    "analytics": ("phân", "tích"), "analyze": ("phân", "tích"), "measure": ("đo", "lường"),
    "growth": ("tăng", "trưởng"), "demand": ("nhu", "cầu"), "focus": ("tập", "trung"),
    "own": ("phụ", "trách"), "owns": ("phụ", "trách"), "handle": ("phụ", "trách"),
    "responsible": ("chịu", "trách", "nhiệm"), "build": ("xây", "dựng"), "hire": ("tuyển",),
    "hiring": ("tuyển",), "recruit": ("tuyển",), "manage": ("quản", "lý"),
    "management": ("quản", "lý"), "trg": ("trong",),
    "vd": ("ví", "dụ"), "sp": ("sản", "phẩm"), "dv": ("dịch", "vụ"),
}

# canonical phrase -> variants. Everything here is folded (no diacritics) before use.
PHRASE_GROUPS: dict[str, tuple[str, ...]] = {
    "cso": (
        "chief sales officer", "chief sale officer", "chief selling officer",
        "sales director", "director of sales", "head of sales", "sales head",
        "vp sales", "vp of sales", "vice president of sales", "sales chief", "sales lead",
        "giam doc kinh doanh", "giam doc ban hang", "giam doc sales", "giam doc phu trach sales",
        "giam doc phu trach kinh doanh", "giam doc phu trach ban hang",
        "truong phong kinh doanh", "truong phong sales", "truong phong ban hang",
        "truong bo phan kinh doanh", "truong bo phan ban hang", "truong bo phan sales",
        "nguoi dung dau bo phan kinh doanh", "nguoi dung dau bo phan ban hang",
        "nguoi dung dau sales", "nguoi dung dau doi sales", "sep sales", "sep kinh doanh",
        "sep ban hang", "sep doi sales", "thu linh ban hang", "thu linh sales", "thu linh",
        "thu linh doi ngu ban hang", "thu linh tuyen dau",
    ),
    "cmo": (
        "chief marketing officer", "chief marketting officer", "marketing director",
        "director of marketing", "head of marketing", "marketing head", "vp marketing",
        "vp of marketing", "vice president of marketing", "marketing chief", "marketing lead",
        "giam doc tiep thi", "giam doc marketing", "giam doc thuong hieu",
        "giam doc phu trach marketing", "giam doc phu trach tiep thi",
        "truong phong marketing", "truong phong tiep thi", "truong bo phan marketing",
        "truong bo phan tiep thi", "nguoi dung dau marketing", "nguoi dung dau bo phan marketing",
        "nguoi dung dau bo phan tiep thi", "sep marketing", "sep tiep thi",
        "kien truc su thuong hieu",
    ),
    "tiep thi": ("marketing", "marketer", "tiep thi"),
    "ban hang": ("sales", "ban hang", "chot sales", "chot don", "chot deal"),
    "ki nang": (
        "ky nang", "nang luc", "to chat", "pham chat", "skill", "skills", "ky nang can",
        "kha nang", "yeu cau nang luc", "can gioi", "gioi ve", "manh ve", "thanh thao", "gioi",
        "hieu sau", "hieu biet", "kien thuc", "am hieu", "ren luyen", "trang bi", "ren", "soft skill",
        "soft skills", "hard skill", "hard skills", "can co gi", "can nhung gi",
        "competency", "competencies", "qualities", "need to be good at",
    ),
    "trach nhiem": (
        "nhiem vu", "trong trach", "phan viec", "cong viec", "dau viec", "chiu trach nhiem",
        "responsibility", "responsibilities", "duties", "duty", "tasks", "job", "lam nhung gi",
        "lam nhung viec gi", "lam viec gi", "lam gi", "ganh vac", "lo nhung gi", "lo viec gi",
        "phu trach nhung gi", "phu trach gi", "phu trach mang nao", "dam trach",
        "manage", "quan ly nhung gi", "ai lo", "ai phu trach", "ai chiu trach nhiem", "ai dam nhan",
        "ai dam nhiem", "la viec cua ai", "ai ganh", "do ai", "thuoc ve ai",
    ),
    "vai tro": (
        "vai tro", "role", "chuc danh", "vi tri", "chuc vu", "nghia la gi",
        "co nghia la gi", "dinh nghia", "khai niem", "what does", "la ai", "who is", "who s",
        "dam duong", "viet tat", "stand for", "stands for", "la chuc gi", "lam chuc gi",
    ),
    "khac biet": (
        "khac biet", "khac nhau", "khac gi", "khac nhau gi", "khac nhau the nao",
        "khac nhau nhu the nao", "phan biet", "so sanh", "difference", "differences",
        "different", "compare", "comparison", "versus", "diem khac", "giong va khac",
        "giong nhau", "khac",
    ),
    "hop tac": (
        "hop tac", "phoi hop", "lam viec chung", "lam viec cung nhau", "ket hop", "bo tro",
        "bo sung cho nhau", "ho tro lan nhau", "ho tro nhau", "cung nhau", "collaborate",
        "collaboration", "work together", "working together", "lien ket", "cong tac",
        "giao thoa", "diem chung", "chung tay", "dong hanh", "teamwork", "align", "alignment",
        "lam viec voi nhau", "lam viec chung voi nhau", "lam chung",
    ),
    "hieu qua": (
        "hieu qua", "tron tru", "suon se", "nhip nhang", "an y", "effective", "effectively",
        "tot hon", "tot nhat", "bi quyet", "meo", "tips", "tip", "best practice", "lam sao de",
        "lam the nao de", "cach nao de", "cach de", "goi y", "cai thien", "gan ket", "nen lam gi",
        "can lam gi", "khong mau thuan", "tranh mau thuan", "how to", "how can", "cach nao",
        "bang cach nao", "phai lam sao", "lam cach nao", "cach",
        "best practices", "nhuan nhuyen", "hai hoa", "tot dep",
    ),
    "doanh nghiep": (
        "doanh nghiep", "cong ti", "business", "company", "companies", "firm", "to chuc",
        "cong ti minh", "enterprise",
    ),
    "nho": (
        "nho", "be", "small", "nho le", "ti hon", "sieu nho", "sme", "smes", "it nguoi", "cua hang",
        "cua hang gia dinh", "ho kinh doanh", "ho gia dinh", "kinh doanh gia dinh", "tiem",
    ),
    "vua_va_nho": ("vua va nho", "nho va vua", "quy mo vua"),
    "khoi nghiep": (
        "khoi nghiep", "startup", "start up", "startups", "moi thanh lap", "moi mo",
        "moi thanh lap", "giai doan dau", "moi khoi nghiep", "early stage",
    ),
    "tap doan": (
        "tap doan", "corporation", "enterprise lon", "cong ti lon", "doanh nghiep lon",
        "large company", "big company", "quy mo lon",
    ),
    "thuong hieu": ("thuong hieu", "brand", "branding", "nhan dien thuong hieu"),
    "doanh thu": ("doanh thu", "revenue", "doanh so", "sales target", "chi tieu doanh so"),
    "ngan sach": ("ngan sach", "budget", "kinh phi"),
    "so dien thoai": (
        "so dien thoai", "dien thoai", "phone", "phone number", "so phone", "so hotline",
        "goi dien", "goi", "call", "hotline", "zalo", "so lien lac", "so de goi",
    ),
    "dia chi": (
        "dia chi", "address", "tru so", "van phong", "o dau", "cho nao", "duong nao",
        "location", "where", "den truc tiep", "toi noi", "nam o dau", "nam o", "o duong nao",
        "quan may", "quan nao",
    ),
    "lien he": (
        "lien he", "lien lac", "contact", "ket noi", "gap nhan vien", "nhan vien ho tro",
        "cham soc khach hang", "cskh", "tu van vien", "tong dai", "support", "customer service",
        "nguoi that", "email", "mail", "e mail", "gmail",
    ),
    "gio lam viec": (
        "gio lam viec", "24 7", "24 24", "ngoai gio hanh chinh", "ngoai gio", "gio hanh chinh", "may gio", "gio mo cua",
        "mo cua", "hours", "opening hours", "truc", "ca dem", "cuoi tuan", "le tet",
        "nua dem", "ban dem", "chu nhat",
    ),
    "tom lai": (
        "tom lai", "tom tat", "ket luan", "tom gon", "y chinh", "summary", "summarize",
        "conclusion", "tl dr", "tldr", "dieu quan trong nhat", "nho dieu gi", "chot lai",
        "noi ngan gon", "ngan gon", "doc xong", "sau khi doc", "mau chot", "diem chinh",
        "noi dung chinh", "rot cuoc", "chia khoa thanh cong", "thong diep",
    ),
    "chao": ("xin chao", "chao", "chao ban", "chao ad", "chao admin", "good morning"),
    "cam on": ("cam on", "thank you", "thanks a lot", "many thanks", "cam on nhieu"),
    "tam biet": (
        "tam biet", "hen gap lai", "see you", "goodbye", "chao tam biet", "bye bye", "hen lan sau",
        "hen khi khac", "hen hom khac", "hen dip khac", "hen lan khac", "di day", "off day",
        "chao nhe", "minh di nhe", "noi chuyen tiep", "noi chuyen sau",
    ),
    "huong dan": (
        "huong dan", "help", "tro giup", "giup do", "lam duoc gi", "lam dc gi", "dung de lam gi",
        "ban la ai", "bot la ai", "chuc nang", "how to use", "su dung", "menu", "start",
        "hoi nhung gi", "hoi gi", "hoi duoc gi", "hoi duoc nhung gi", "chu de", "chu de nao",
        "what can you do", "can you do", "nen hoi gi", "hoi cai gi", "biet gi", "tu van gi",
    ),
}

PHRASE_GROUPS.update(
    {
        "khi nao": (
            "khi nao", "luc nao", "bao gio", "thoi diem nao", "giai doan nao", "when",
            "khi nao thi", "den luc", "tai sao can", "co nen", "nen tuyen", "nen co",
        ),
        "do_luong": ("do luong",),
        "lanh_dao": (
            "lanh dao", "dan dat", "leader", "leadership", "chi huy", "cam dau",
            "dan dat va thuc day", "dan dat dao tao va thuc day",
        ),
        "doi_ban_hang": (
            "luc luong ban hang", "doi ngu ban hang", "doi ngu sales", "doi sales", "team sales",
            "sales team", "doi ban hang", "phong kinh doanh", "phong sales", "phong ban hang",
            "bo phan ban hang", "bo phan kinh doanh", "bo phan sales", "khoi ban hang",
            "khoi kinh doanh", "khoi sales", "nhan vien ban hang", "nhan vien sales", "sales rep",
        ),
        "doi_tiep_thi": (
            "doi ngu marketing", "doi ngu tiep thi", "doi marketing", "team marketing",
            "marketing team", "phong marketing", "phong tiep thi", "bo phan marketing",
            "bo phan tiep thi", "khoi marketing", "khoi tiep thi",
        ),
        # Framing words that carry no information about which answer is wanted.
        "": (
            "then chot", "quan trong nhat", "cot loi", "chu yeu", "co ban", "cu the", "noi chung",
            "thuc su", "chinh xac", "ngoi ghe", "ngoi vao ghe", "vi tri nay", "vi tri do", "vi tri ay", "chuc danh nay", "len lam", "tro thanh", "muon lam",
            "de lam", "o cuong vi", "cuong vi", "o vi tri", "nguoi ta", "hay vi", "duoc vi",
            "cho minh hoi", "cho em hoi", "cho toi hoi", "xin hoi", "cho hoi", "ban oi", "ad oi",
            "shop oi", "a oi", "anh chi oi", "mong duoc giai dap", "giai dap giup", "giai thich giup",
            "nho ban", "lam on", "vui long", "mot chut", "ti", "chut", "doi voi", "trong cong ti",
            "trong doanh nghiep", "cua doanh nghiep", "trong to chuc",
        ),
        "luc_luong": ("luc luong",),
        "so_luong": ("so luong",),
        "chat_luong": ("chat luong",),
        "la_gi": ("la gi", "la cai gi", "what is", "what s"),
        # Other job titles: the article says nothing about them, so the bot must not answer.
        "chuc_danh_khac": (
            "cto", "cfo", "cio", "coo", "ceo", "cpo", "cdo", "cco", "chro", "cxo", "cro",
            "chief technology officer", "chief financial officer", "chief executive officer",
            "chief operating officer", "chief information officer", "chief product officer",
            "chief human resources officer", "chief data officer", "chief customer officer",
            "chief revenue officer", "chief people officer", "chief legal officer",
            "giam doc tai chinh", "giam doc nhan su", "giam doc cong nghe", "giam doc ki thuat",
            "giam doc dieu hanh", "giam doc van hanh", "giam doc san xuat", "giam doc san pham",
            "giam doc thong tin", "giam doc du lieu", "giam doc phap che", "giam doc mua hang",
            "tong giam doc", "pho giam doc", "chu tich", "ke toan truong", "ke toan",
            "truong phong nhan su", "truong phong ke toan", "truong phong hanh chinh",
            "truong phong ki thuat", "nhan su", "hr", "hr manager", "lap trinh vien",
            "developer", "designer", "thu ki", "luat su", "cfo", "project manager",
            "product manager", "ke toan vien", "quan ly du an", "truong phong it",
        ),
        # Subjects the article never covers: asking about them is out of scope even when a
        # CSO or CMO is named ("lương CSO bao nhiêu?").
        "ngoai_pham_vi": (
            "muc luong", "thu nhap", "salary", "luong bao nhieu", "dai ngo", "luong cso",
            "luong cmo", "luong cua", "luong", "tien luong", "luong thang", "luong thuong", "luong khoang",
            "tuyen dung", "ung tuyen", "xin viec", "phong van", "tim viec", "viec lam",
            "chung chi", "khoa hoc", "bang cap", "hoc phi", "hoc o dau", "truong dai hoc",
            "gia ca", "gia tien", "gia bao nhieu", "bao nhieu tien", "bang gia", "chi phi", "phi dich vu", "hoan tien",
            "doi tra", "tra hang", "don hang", "van chuyen", "giao hang", "refund", "order",
            "ship", "thoi tiet", "weather", "mua bao", "troi mua", "tran dau", "ti so",
            "ve xem", "ve tran", "mua ve", "da voi", "cau thu", "bong da", "world cup", "soi keo",
            "ca cuoc", "ca do", "lich thi dau", "ngoai hang anh", "champions league", "euro",
            "joke", "truyen cuoi", "nop cv", "mau cv", "gui cv", "viet cv", "cv xin viec", "ho so",
            "resume", "headhunt",
            "hoa hong", "co phan", "nghi phep", "kinh nghiem", "sach", "earn", "an ninh mang",
            "security", "bao mat", "hoc nganh", "nganh gi", "mat khau", "password", "van ta",
            "bai van", "tho", "dich", "translate", "code", "ke chuyen", "cong thuc", "nau", "mon an", "recipe",
            "bitcoin", "crypto", "chung khoan", "co phieu", "lai suat", "vay von", "hien tai",
            "hien nay", "bay gio", "nam nay", "nam ngoai", "tin tuc", "news", "the thao",
            "bai hat", "phim", "game", "du lich", "khach san", "ve may bay", "covid",
        ),
        # The publisher's own name contains "bóng đá": it is the company, not football.
        "ben_ban": (
            "truyen thong bong da", "ben ban", "ben minh", "cong ti ban", "cong ti cac ban",
            "ben em", "shop", "quy cong ti",
        ),
    }
)

# Second pass, over canonical tokens: who leads a team is that team's chief.
_LEADS = ("lanh_dao", "dung dau", "sep", "truong", "quan li", "head", "lead", "giam doc",
          "nguoi lanh_dao", "nguoi dung dau", "nguoi quan li")
COMBINATIONS: dict[str, tuple[str, ...]] = {
    "cso": tuple(f"{lead} {team}" for lead in _LEADS for team in ("doi_ban_hang", "ban_hang")),
    "cmo": tuple(f"{lead} {team}" for lead in _LEADS for team in ("doi_tiep_thi", "tiep_thi")),
}

# Words that carry no meaning for choosing an answer (compared without diacritics).
STOPWORDS: frozenset[str] = frozenset(
    """
    la gi cua va thi co khong cho minh toi ban a nhe nha vay the nao nhung cac mot duoc ve o
    trong den de voi nay do ay oi ha u em anh chi hoi xin giup lam on ne nhi chu roi thoi dang
    se da bi hay hoac ma nhu sao ra len di vao moi rat qua cung luon ah uh uhm um nhen nghen ak
    ck ho dum tui t m b e c ad admin bot ok ja cai z gium ko thu biet muon hieu xem vui
    long please pls plz la_gi la_ai ai nguoi ta thuong cu kieu phai vi tai nen nhieu lai that
    van con nua them day kia bao may tren duoi neu tat chua kha vang sai to ong ba no nhau
    chac chan lien quan ke
    i you me we they he she it the a an is are was were be been do does did what which who
    how why can could would should will shall may might must need needs have has had of to
    in on at for with and or but my your our their its this that these those about please
    tell so very much many there here just also any some all main key most more really
    """.split()
)
