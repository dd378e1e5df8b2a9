"""Value pools the generator draws from: realistic, and hostile where real CRM data is.

Names carry unicode, commas, quotes, newlines and leading formula characters, so every
export path meets them on every run.
"""

FIRST_NAMES = [
    "Aarav",
    "Priya",
    "José",
    "Zoë",
    "Mohammed",
    "Li",
    "Siobhán",
    "Ngọc",
    "Olúwaseun",
    "Анна",
    "محمد",
    "田中",
    "Chloé",
    "Søren",
    "Ana-María",
    "Kwame",
    "Émile",
    "Ravi",
    "Fatima",
    "Łukasz",
    "Ingrid",
    "Mei",
    "Diego",
    "Amara",
]
LAST_NAMES = [
    "Sharma",
    "O'Brien",
    "García",
    "Nguyễn",
    "Müller",
    "Smith, Jr.",
    "Kowalski",
    "Okafor",
    "Иванова",
    "الحسن",
    "山田",
    "Dubois",
    "Van der Berg",
    "Patel",
    "Kim",
    "Rossi",
    'Jones "JJ"',
    "Silva",
    "Haddad",
    "Andersen",
]
# Whole values that exercise quoting and the formula guard of the CSV writer.
HOSTILE_TEXT = [
    '=HYPERLINK("http://example.invalid","click")',
    "+1 (555) 010-0199",
    "-2+3",
    "@SUM(A1:A9)",
    "\tTabbed start",
    "\rCarriage start",
    "Line one\nLine two",
    'She said "hi", then left',
    "Comma, separated, words",
    "Plain value",
]
CHAT_TOPICS = [
    "Order status",
    "Refund request",
    "Delivery delayed",
    "Login problem",
    "Invoice copy",
    "Plan upgrade",
    "Bulk pricing",
    "Café booking ☕",
    "Return, exchange",
    'Query about "Pro"',
    "Shipment lost\nneeds callback",
    "=Complaint",
    "+Priority lead",
    "-Cancelled order",
    "@mention from web",
    "Question",
    "Feedback 👍",
    "Warranty claim",
]
# Message texts, by who sends them. Realistic, and hostile on purpose: several lines,
# quotes, commas, emoji, right-to-left scripts, cells a spreadsheet would evaluate.
CUSTOMER_MESSAGES = [
    "Hi, where is my order?",
    "I was charged twice for order #4412, can you check?",
    "Hello 👋 I need an invoice copy",
    'The app says "payment failed" but the money left my account',
    "Line one of my problem\nand the second line\n\nand a third after a gap",
    "مرحبا، أريد استرجاع طلبي",
    "שלום, ההזמנה שלי לא הגיעה",
    "ok",
    "Thanks!! 🙏🙏",
    "=1+1",
    "+91 98200 00000 call me back",
    "-- sent from my phone --",
    "@support is anyone there?",
    "Café, croissant, and a refund, please",
    "¿Dónde está mi pedido?",
    "注文はいつ届きますか？",
]
AGENT_MESSAGES = [
    "Hi! Let me check that for you.",
    "Your order ships tomorrow; tracking: TRK-99120.",
    'I have escalated this to billing, "ticket 5521".',
    "Sorry for the wait, we had a spike in requests.",
    "Could you share the order number, please?",
    "Done ✅ the refund is on its way (3–5 days)",
    '=HYPERLINK("http://example.invalid","status")',
    "Regards,\nSupport team",
]
BOT_MESSAGES = [
    "Welcome! Choose an option: 1) Orders 2) Billing 3) Talk to a person",
    "Please enter your order ID",
    "Thanks, an agent will join shortly.",
    "How would you rate us, 1 to 5?",
    "@here new lead",
]
NOTE_BODIES = [
    "Customer called back, waiting on courier.",
    "Escalated to billing; refund approved.",
    "Asked for order number, customer shared screenshot.",
    "VIP customer — handle with care, prefers WhatsApp over email, do not call before 10am "
    "local time, and always confirm the delivery address twice before dispatching anything.",
    "=cmd|' /C calc'!A0",
    "Follow-up, tomorrow, 10:00",
    'Customer wrote: "it still doesn\'t work"',
    "Multi-line note\nsecond line\nthird line",
    "नमस्ते — replied in Hindi",
    "-",
]
REMARKS = [
    "Replacement shipped",
    "Awaiting customer reply",
    "Duplicate of earlier ticket",
    "Needs manager approval, see notes",
    '"Urgent" per customer',
    "=1+1",
    "",
    "Refund processed\nvia original method",
    "@ops please check",
]
WORKFLOW_STATES = ["open", "pending", "snoozed", "resolved", "closed"]
CHANNEL_TYPES = ["whatsapp_official", "whatsapp_unofficial", "email", "web_chat"]
CHANNEL_NAMES = [
    "Sales WhatsApp",
    "Support WhatsApp",
    "Support Email",
    "Website Chat",
    "Partners WhatsApp",
    "Billing Email",
]
TEAM_NAMES = ["Tier 1", "Tier 2", "Billing", "Sales", "VIP Desk", "Night Shift"]
LABEL_NAMES = [
    "vip",
    "refund",
    "bug",
    "lead",
    "churn-risk",
    "follow-up",
    "spam",
    "b2b",
    "priority, high",
    "new",
    "=label",
    "returning",
    "🔥 hot",
    "feedback",
    "escalated",
]
ISSUES = ["Delivery", "Billing", "Account", "Product", "Technical"]
SUB_ISSUES = [
    "Late",
    "Damaged",
    "Wrong item",
    "Double charge",
    "Refund",
    "Password",
    "Access",
    "Defect",
    "Crash",
    "Other",
]
TICKET_STATUSES = ["Open", "In Progress", "Waiting on Customer", "Resolved", "Closed"]
PRIORITIES = ["low", "medium", "high"]
# Custom fields: (key, label, type). Each organisation's templates take a different subset.
CUSTOM_FIELDS = [
    ("city", "City", "text"),
    ("plan", "Plan", "text"),
    ("lifetime_value", "Lifetime Value", "number"),
    ("birthday", "Birthday", "date"),
    ("newsletter", "Newsletter", "boolean"),
    ("account_manager", "Account Manager", "text"),
    ("company", "Company", "text"),
    ("gst_number", "GST Number", "text"),
    ("tier", "Tier", "text"),
    ("signup_source", "Signup Source", "text"),
    ("language", "Language", "text"),
    ("orders_count", "Orders Count", "number"),
    # Labels real admins give that collide: a contact column's name ("Email", "Channel"),
    # and a label two keys share ("Company"). Every organisation's default template has
    # these, so exports meet the unique-header rule.
    ("email_2", "Email", "text"),
    ("preferred_channel", "Channel", "text"),
    ("company_name", "Company", "text"),
]
COLLIDING_FIELDS = ["email_2", "preferred_channel", "company", "company_name"]
CITIES = ["Mumbai", "São Paulo", "Berlin", "New York, NY", "Zürich", "=Delhi", "Lagos", ""]
PLANS = ["Free", "Pro", "Business", "Enterprise"]
TEMPLATE_NAMES = ["Default", "B2B Customer", "Lead", "Legacy Import"]
JOURNEY_NAMES = ["Welcome Bot", "Order Tracker", "Lead Qualifier", "Feedback Survey"]
GOAL_NAMES = [
    "Greeted",
    "Collected Email",
    "Collected Order ID",
    "Showed Status",
    "Qualified",
    "Booked Demo",
    "Rated",
    "Handed Off",
]
MILESTONES = ["start", "middle", "conversion", "end"]
# "Name", "Milestone" and "Recorded At" collide with the goal export's own columns.
TRACKERS = [
    "email",
    "order_id",
    "rating",
    "budget",
    "product",
    "city",
    "consent",
    "utm_source",
    "Name",
    "Milestone",
    "Recorded At",
]
TRACKER_VALUES = [
    "yes",
    "no",
    "5",
    "1",
    "alice@example.com",
    "ORD-1001",
    "=2+2",
    "Mumbai",
    "google, cpc",
    "+91 98200 00000",
]
HANGUP_CAUSES = [
    "NORMAL_CLEARING",
    "USER_BUSY",
    "NO_ANSWER",
    "CALL_REJECTED",
    "ORIGINATOR_CANCEL",
    "NETWORK_OUT_OF_ORDER",
]
CALL_STATUSES = ["answered", "missed", "busy", "failed", "voicemail"]
PROVIDERS = ["Twilio", "Exotel", "Plivo", "Knowlarity"]
TIMEZONES = [
    "UTC",
    "Asia/Kolkata",
    "America/New_York",
    "Europe/Berlin",
    "Australia/Sydney",
    "America/Sao_Paulo",
]
ORG_NAMES = [
    "Acme Retail",
    "Globex Support",
    "Initech",
    "Umbrella Care",
    "Stark Services",
    "Wayne Logistics",
    "Hooli",
    "Soylent Foods",
    "Tyrell Telecom",
    "Cyberdyne Clinics",
]
# "category|sub-category"; some collide with column names or start like formulas.
RESOLUTION_LABELS = [
    "Billing|Refund issued",
    "Billing|Invoice explained",
    "Technical|Login fixed",
    "Technical|Bug reported",
    "Orders|Delivery rescheduled",
    "Chat ID|CSAT Score",
    '=HYPERLINK("x")|+cmd',
    "Account|Closed, on request\nby the customer",
]
RATING_COMMENTS = [
    "Great help, thank you!",
    "Took too long.",
    "Solved in minutes 👍",
    "Line one\nline two",
    "=1+1",
    'Not resolved, "again"',
    "",
]
HOLIDAYS = ["01-01", "05-01", "12-25", "12-31"]  # each organisation's closed days (month-day)
