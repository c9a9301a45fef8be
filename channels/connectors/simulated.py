"""A simulated network: an endless, seeded stream of realistic posts to the fictional outdoor brand Northwind.

It lets a fresh checkout show mentions arriving live with no network account, and gives benchmarks and
routing evaluation a reproducible workload. Post number ``seq`` on a channel depends only on the seed, the
channel's slug and ``seq`` (and the channel's segment, handle and listening queries), never on how the pulls
were split or on what else ran in the process. Each post's ``raw["simulation"]`` block holds the ground
truth (intent, home segment, tone, whether it was misdirected) that routing evaluation scores against.

Posts are shaped like X's unless the channel's ``shape`` credential says ``"bluesky"``: then ids are
``at://`` URIs with the author's DID, handles are ``<name>.bsky.social``, direct messages are chat messages
(``chat:<conversation>:<id>``), and ``raw`` is a mention, reply or quote notification as
``app.bsky.notification.listNotifications`` returns it. The stream (who writes what, when, in which thread)
is the same either way.
"""

from __future__ import annotations

import hashlib
import random
import string
import unicodedata
from bisect import bisect_right
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from itertools import accumulate
from typing import Any, TypeVar

from django.conf import settings
from django.utils import timezone

from channels.connectors.base import (
    AuthorData,
    Capabilities,
    ChannelRef,
    ConnectorError,
    Page,
    Post,
    SentReply,
)
from channels.connectors.registry import register
from channels.connectors.x.rules import REPLY_RULES as X_REPLY_RULES

T = TypeVar("T")

# --- Ground truth: intents and the segment that owns each ------------------------------------------------

SUPPORT_QUESTION = "support_question"
COMPLAINT = "complaint"
PRAISE = "praise"
PURCHASE_QUESTION = "purchase_question"
EVENT_QUESTION = "event_question"
PRESS_QUESTION = "press_question"
CRISIS_SIGNAL = "crisis_signal"
ADVOCACY = "advocacy"
SPAM = "spam"

INTENTS: tuple[str, ...] = (
    SUPPORT_QUESTION,
    COMPLAINT,
    PRAISE,
    PURCHASE_QUESTION,
    EVENT_QUESTION,
    PRESS_QUESTION,
    CRISIS_SIGNAL,
    ADVOCACY,
    SPAM,
)

# Spam has no home: it belongs to whichever channel received it, so it is never misdirected.
INTENT_HOME_SEGMENT: dict[str, str | None] = {
    SUPPORT_QUESTION: "customer-relations",
    COMPLAINT: "customer-relations",
    PRAISE: "customer-relations",
    CRISIS_SIGNAL: "crisis-management",
    PRESS_QUESTION: "reputation-management",
    EVENT_QUESTION: "event-coverage",
    PURCHASE_QUESTION: "product-promotion",
    ADVOCACY: "issue-advocacy",
    SPAM: None,
}

# How a segment's own traffic splits when it owns several intents (only customer relations does).
_OWN_WEIGHT: dict[str, int] = {SUPPORT_QUESTION: 50, COMPLAINT: 30, PRAISE: 20}

# Which intents stray to the wrong account, and how often: support questions and complaints land on the
# promotion account, press questions on the events account (the silo failure the product exists for).
_MISDIRECTED_WEIGHT: dict[str, int] = {
    SUPPORT_QUESTION: 28,
    COMPLAINT: 18,
    PRESS_QUESTION: 14,
    CRISIS_SIGNAL: 12,
    PURCHASE_QUESTION: 10,
    EVENT_QUESTION: 6,
    PRAISE: 6,
    ADVOCACY: 6,
}

SPAM_SHARE = 0.05
# Each channel gets its own misdirected share in this range, so channels differ as real accounts do.
MISDIRECTED_SHARE_RANGE = (0.16, 0.24)
REPLY_SHARE = 0.15
REPLY_REACH = 5  # a reply answers one of the five posts before it, so threads stay within recent pulls
DM_SHARE = 0.10
KEYWORD_SHARE = 0.12
SHOUTING_SHARE = 0.3  # of angry posts, how many are typed in capitals
CREATED_JITTER_MS = 6_000  # posts were written up to a few seconds before the pull saw them
MAX_TEXT_LENGTH = 280

# A trickle pull returns 0..4 posts with these weights (mean 1.55), like a quiet account polled often.
_TRICKLE_SIZES = (0, 1, 2, 3, 4)
_TRICKLE_CUM_WEIGHTS = tuple(accumulate((25, 30, 20, 15, 10)))

NETWORK = "simulated"
SIM_HOST = "https://sim.socialops.invalid"
BRAND_HANDLE = "northwind"  # used when a channel has no handle of its own
BRAND_TERMS = ("Northwind", "#Northwind", "northwind gear", "Trailfest", "#OpenTrails")
POSTS_PER_PULL_CREDENTIAL = "posts_per_pull"
# A channel with a backlog has that many posts waiting: pages report more until the cursor reaches it.
BACKLOG_CREDENTIAL = "backlog"
MAX_EXTERNAL_ID_LENGTH = 64  # the X-shaped ids stay within X's widths
SHAPE_CREDENTIAL = "shape"
BLUESKY_SHAPE = "bluesky"  # posts shaped as Bluesky's (see the module's note)
BLUESKY_HANDLE_DOMAIN = "bsky.social"
_TID_ALPHABET = "234567abcdefghijklmnopqrstuvwxyz"  # Bluesky's record keys: base32, sortable

# --- Brand world: slot fillers ---------------------------------------------------------------------------

# Word lists read better as paragraphs than one word a line.
# fmt: off
PRODUCTS = (
    "Ridgeline 40 pack",
    "Summit Shell jacket",
    "Tundra 2 tent",
    "Fjord trail runners",
    "Basecamp stove",
    "Glacier down parka",
    "Cirrus sleeping bag",
    "TrailLite headlamp",
    "Alder trekking poles",
    "Kestrel water filter",
    "Harbor rain boots",
    "Drift 12 kayak",
    "Switchback hiking boots",
    "Larch fleece",
    "Nimbus 3 tent",
    "Scree gaiters",
)
GARMENTS = (
    "Summit Shell jacket", "Glacier down parka", "Larch fleece", "Fjord trail runners",
    "Switchback hiking boots", "Harbor rain boots", "Scree gaiters", "Cirrus sleeping bag",
)
TENTS = ("Tundra 2 tent", "Nimbus 3 tent")
COLORS = ("forest green", "slate", "ember orange", "glacier blue", "black", "sand", "plum", "rust")
CITIES = (
    "Denver", "Portland", "Oslo", "Bergen", "Vancouver", "Munich", "Lyon", "Barcelona", "Melbourne",
    "Sapporo", "Edinburgh", "Boulder", "Salt Lake City", "Anchorage", "Chamonix", "Queenstown", "Tromsø",
    "Calgary", "Seattle", "Minneapolis", "Innsbruck", "Bend",
)
COUNTRIES = (
    "Canada", "Germany", "Norway", "Australia", "Japan", "Ireland", "Chile", "New Zealand", "Spain",
    "Brazil", "the Netherlands", "Iceland", "Mexico", "Poland",
)
EVENTS = (
    "Trailfest", "Northwind Trailfest", "Trailfest", "Trailfest Night Run", "Trailfest family day",
    "Trailfest kids' trail race",
)
DATES = (
    "Saturday", "Sunday", "Friday night", "June 14", "the 21st", "next weekend", "May 3", "14/06",
    "the 2nd", "Thursday",
)
HASHTAGS = (
    "#Trailfest", "#NorthwindOutside", "#GearUp", "#OpenTrails", "#LeaveNoTrace", "#getoutside",
    "#thruhike", "#campinglife", "#hikingadventures", "#BuyItForLife",
)
EMOJI = (
    "🏔️", "⛺", "🥾", "🔥", "😍", "🙏", "😡", "🤦", "💯", "🌲", "☔", "🎒", "😂", "🙄", "❤️", "✨", "👀",
    "😭", "🚀", "⚠️", "🤔", "👍", "🎉", "🌧️",
)
STAFF_NAMES = ("Priya", "Tomás", "Ingrid", "Kofi", "Mei", "Sam", "Lars", "Aisha", "Jonah", "Beatriz")
SIZES = ("XS", "S", "M", "L", "XL", "XXL", "W8", "M10", "EU 42", "EU 44", "UK 9")
PROMO_CODES = ("TRAIL20", "NORTH15", "WELCOME10", "FEST25", "BF30", "SPRING20")
OUTLETS = (
    "Trail & Tide", "Outdoor Daily", "the Mountain Ledger", "the Switchback", "Northern Business Journal",
    "KTRL 7 News", "Alpine Review", "the Ridge & Valley podcast", "the Daily Cairn", "Retail Pulse",
)
PRESS_TOPICS = (
    "your supply chain", "the rumoured layoffs", "the new sustainability report", "PFAS-free waterproofing",
    "your factory audit results", "the Open Trails Fund", "this year's price increases",
    "the store closures", "the stove recall rumours", "your repair programme", "the CEO's comments on "
    "public lands", "R&D spending",
)
CAUSES = ("Open Trails Fund", "Open Trails Fund", "#OpenTrails campaign", "Open Trails pledge")
COINS = ("$MOONPEAK", "BTC", "$TRAILX", "ETH", "$GAINZ", "USDT")
# Reserved .example names: nothing a spam link points at can resolve.
SPAM_DOMAINS = ("moonyield.example", "getfollowers.example", "claim-drop.example", "fast-gains.example")
RECALLS = (
    ("Basecamp stove", "the valve can leak"),
    ("TrailLite headlamp", "the battery overheats while charging"),
    ("Alder trekking poles", "the locks slip under load"),
    ("Kestrel water filter", "the cartridge cracks and lets water through unfiltered"),
    ("Tundra 2 tent", "the pole hubs snap in the cold"),
)
# fmt: on

# Two slots of one kind in a template ("{product} or {product2}") should name different things.
_PAIRED_SLOTS = (("product", "product2", PRODUCTS), ("color", "color2", COLORS))


def _pick(rng: random.Random, items: Sequence[T]) -> T:
    # Indexing by random() costs a third of Random.choice, and this runs for every slot of every post.
    return items[int(rng.random() * len(items))]


def _between(rng: random.Random, low: int, high: int) -> int:
    """A whole number from ``low`` to ``high`` inclusive; the cheap counterpart of Random.randint."""
    return low + int(rng.random() * (high - low + 1))


def _link(rng: random.Random) -> str:
    code = "".join(rng.choices(string.ascii_letters + string.digits, k=6))
    return f"https://{_pick(rng, SPAM_DOMAINS)}/{code}"


def _emojis(rng: random.Random) -> str:
    return "".join(rng.choices(EMOJI, k=_between(rng, 2, 4)))


_SLOT_FILLERS: dict[str, Callable[[random.Random], str]] = {
    "brand": lambda rng: _pick(rng, ("Northwind", "Northwind", "Northwind", "northwind")),
    "product": lambda rng: _pick(rng, PRODUCTS),
    "product2": lambda rng: _pick(rng, PRODUCTS),
    "garment": lambda rng: _pick(rng, GARMENTS),
    "tent": lambda rng: _pick(rng, TENTS),
    "color": lambda rng: _pick(rng, COLORS),
    "color2": lambda rng: _pick(rng, COLORS),
    "order": lambda rng: f"NW-{_between(rng, 1_000_000, 9_999_999)}",
    "city": lambda rng: _pick(rng, CITIES),
    "country": lambda rng: _pick(rng, COUNTRIES),
    "event": lambda rng: _pick(rng, EVENTS),
    "date": lambda rng: _pick(rng, DATES),
    "hashtag": lambda rng: _pick(rng, HASHTAGS),
    "emoji": lambda rng: _pick(rng, EMOJI),
    "emojis": _emojis,
    "name": lambda rng: _pick(rng, STAFF_NAMES),
    "days": lambda rng: str(_between(rng, 3, 45)),
    "weeks": lambda rng: str(_between(rng, 2, 8)),
    "hours": lambda rng: str(_between(rng, 2, 9)),
    "price": lambda rng: f"{_pick(rng, '$$$€£')}{_between(rng, 39, 689)}",
    "code": lambda rng: _pick(rng, PROMO_CODES),
    "size": lambda rng: _pick(rng, SIZES),
    "count": lambda rng: str(_between(rng, 6, 40)),
    "outlet": lambda rng: _pick(rng, OUTLETS),
    "topic": lambda rng: _pick(rng, PRESS_TOPICS),
    "cause": lambda rng: _pick(rng, CAUSES),
    "coin": lambda rng: _pick(rng, COINS),
    "link": _link,
}

# --- Post templates --------------------------------------------------------------------------------------
# Each line is "tone|text". A tone of "multi-xx" is a post written (mostly) in language xx.

_TEMPLATE_SOURCE: dict[str, tuple[str, ...]] = {
    SUPPORT_QUESTION: (
        'polite|Hi {brand}! My order {order} still says "processing" after {days} days. Could you check on '
        "it for me? Thanks!",
        "polite|Hello, how do I start a warranty claim for my {product}? It broke after one season.",
        "terse|order {order} status?",
        "neutral|Does the {product} come with a spare parts kit, or do I buy that separately?",
        "polite|Quick question: can I exchange my {garment} for a size {size} in store, or does it have to "
        "go back by mail?",
        "neutral|How do I wash the {garment} without ruining the waterproofing? The care label is already "
        "faded.",
        "emoji|help {emoji} tracking for {order} hasn't updated since {date} {emojis}",
        'sarcastic|Love that the "track my order" page just says "soon". Very informative. Where is {order}?',
        "angry|Third time asking: where is my refund for {order}?? Nobody answers email.",
        "polite|I can't log in to my {brand} account, the password reset email never arrives. Can someone "
        "help?",
        "multi-es|Hola {brand}, ¿cómo puedo devolver mi {product}? Lo compré en {city} hace {days} días. "
        "¡Gracias!",
        "multi-de|Hallo {brand}, wie lange dauert der Versand nach {country}? Bestellung {order}.",
        "multi-fr|Bonjour ! Est-ce que la garantie du {product} couvre les coutures ? Merci d'avance",
        "neutral|Is there a repair service for the {product}? Broke it on a trip & I'd rather fix than "
        "replace.",
        "terse|return window for {product}? 30 or 60 days",
        "polite|Hi there, I got the wrong size ({size}) in order {order}. What's the easiest way to swap it? "
        "Thank you <3",
        "neutral|Where can I find the manual for the {product}? The QR code in the box goes to a 404.",
        "emoji|{emojis} does the {product} warranty still count if I bought it secondhand?",
    ),
    COMPLAINT: (
        "angry|{days} days and still no refund for {order}. I sent it back on {date}. This is ridiculous, "
        "{brand}.",
        'angry|My {garment} fell apart on its second trip. Seams split. "Built for a lifetime" my foot.',
        "sarcastic|Wow, {brand}, 45 minutes on hold just to be told to send an email. Truly world-class "
        "service.",
        'sarcastic|Nothing says "premium outdoor gear" like a {garment} that leaks in light drizzle. Thanks '
        "{brand}.",
        "terse|wrong item. again. {order}",
        "polite|Disappointed, honestly. Ordered a {color} {product}, got a {color2} one, and the exchange "
        "has taken {weeks} weeks.",
        'angry|Your {city} store refused my return because I "used it outside". It is OUTDOOR GEAR.',
        "neutral|Paid {price} for the {product} and it went on sale for half that a week later. Not a great "
        "feeling.",
        "emoji|{emoji}{emoji} my {product} arrived soaking wet and the box was crushed {emojis}",
        "angry|Support chat closed on me twice. Order {order}. I want to talk to a human.",
        "multi-pt|Péssimo atendimento. Meu pedido {order} nunca chegou e ninguém responde. {brand}, que "
        "vergonha.",
        "multi-nl|Al {days} dagen wachten op mijn terugbetaling. Echt slecht, {brand}.",
        'sarcastic|Great news everyone: the "waterproof" in {garment} is apparently just a suggestion.',
        "terse|still waiting. {days} days. no reply.",
        "polite|I've been a loyal customer for years, but the {product} quality has really slipped. Please "
        "pass this on to R&D.",
        "angry|Charged twice for order {order} & support keeps closing my ticket. Fix it.",
    ),
    PRAISE: (
        "enthusiastic|Just summited with my {product} and it was flawless. Thank you {brand}! {emoji}",
        "polite|Huge thanks to {name} at the {city} store for fitting my boots properly. Made all the "
        "difference.",
        "emoji|{garment} in the rain all weekend and bone dry {emojis}",
        "neutral|My {product} is 11 years old and still going strong. They don't make much like this "
        "anymore.",
        "polite|Sent my {product} in for repair and got it back in {days} days, good as new. Great service, "
        "{brand}.",
        "terse|{product} = best purchase this year.",
        "emoji|<3 <3 <3 the new {color} {product}!!! {emoji}",
        "multi-fr|Merci {brand} ! Mon {product} a survécu à une semaine de pluie en Bretagne. Parfait.",
        "multi-ja|{brand}の{product}、最高です！{emoji}",  # noqa: RUF001 (Japanese punctuation)
        "sarcastic|Bad news: my {product} refuses to wear out, so I'll never get to buy another one. Thanks "
        "a lot, {brand} {emoji}",
        "polite|Shoutout to your support team for sorting out order {order} in one email. Rare these days!",
        "enthusiastic|Took the {product} across {country} for a month. Not a single issue. {hashtag}",
        "neutral|Credit where it's due: the {garment} is lighter & warmer than the one I had before.",
        "multi-es|¡Gracias {brand}! El {product} es increíble, lo recomiendo a todo el mundo.",
        "emoji|Day {days} of the thru-hike, {product} still holding up {emojis} {hashtag}",
    ),
    PURCHASE_QUESTION: (
        "polite|Hi! Is the {product} coming back in {color}? I'd buy it today if so.",
        "neutral|What's the difference between the {product} and the {product2}? Trying to decide before the "
        "weekend.",
        "terse|{garment} in size {size}? restock date?",
        "polite|Do you ship to {country}? Looking at the {product} and the {product2}.",
        "neutral|Any discount for club orders? We need about {count} of the {product} for our hiking club.",
        "emoji|is the {code} code still working?? {emojis} cart is ready",
        "neutral|Will the {product} be on sale for Black Friday or should I just buy it now for {price}?",
        'sarcastic|Would love to give you my money for the {product}, but it has been "coming soon" since '
        "spring.",
        "multi-de|Gibt es den {garment} auch in Größe {size}? Und was kostet der Versand nach {country}?",
        "multi-es|¿Tienen el {product} en {color}? ¿Y hay descuento para estudiantes?",
        "polite|Can I pre-order the new {product}? Happy to pay now if it means I get one.",
        "neutral|Does the {tent} price include the rain fly, or is that extra?",
        "terse|price match? saw {product} cheaper elsewhere.",
        "emoji|need a gift for my dad who camps every weekend {emoji} {product} or {product2}??",
        "neutral|Is there a student or first-responder discount at {brand}? Eyeing the {product}.",
        "polite|Will the {city} store have the {garment} in stock on {date}? I'd rather try it on first.",
    ),
    EVENT_QUESTION: (
        "polite|Hi! Are day passes for {event} still available, or only weekend tickets?",
        "neutral|What time does {event} open on {date}? Trying to plan the drive from {city}.",
        "terse|{event} parking?",
        "neutral|Can I bring my dog to {event}? She's very well behaved {emoji}",
        "polite|Is there camping on site at {event}, or should we book something in {city}?",
        "emoji|{event} lineup when?? {emojis}",
        "neutral|Will the {event} talks be livestreamed? Can't make it in person this year.",
        "polite|Is {event} wheelchair accessible? Especially the trail demo area.",
        "sarcastic|Love how the {event} schedule is a secret until the day before. Some of us need to book "
        "trains.",
        "neutral|How do I sign up to volunteer at {event}? Did it last year and loved it.",
        "multi-fr|Bonjour, y aura-t-il des navettes depuis la gare de {city} pour {event} ?",
        "multi-de|Gibt es bei {event} Kindertickets? Wir kommen mit der ganzen Familie.",
        "angry|Bought {event} tickets {days} days ago and never got a confirmation email. Who do I talk to??",
        "neutral|Is the Trailfest gear swap happening again? What can we bring?",
        "terse|refund policy for {event} tix?",
        "emoji|first time going to {event}!! what should I pack? {emojis} {hashtag}",
    ),
    PRESS_QUESTION: (
        "polite|Hi {brand}, I'm a reporter with {outlet}. Could someone from your press team comment on "
        "{topic}? Deadline is {date}.",
        "neutral|Who handles media inquiries at {brand}? Working on a story about {topic} for {outlet}.",
        "polite|Journalist at {outlet} here. Would your CEO be available for a short interview about "
        "{topic}?",
        "terse|Press contact for {brand}? On deadline.",
        "neutral|Over at {outlet} we're preparing a piece on {topic}. Does {brand} have a statement?",
        "polite|Hello! I host a podcast on the outdoor industry and would love someone from {brand} R&D on "
        "the show. Who should I contact?",
        "neutral|Can {brand} confirm reports about {topic}? Happy to take a DM. ({outlet})",
        'polite|Writing for {outlet} about the "buy it for life" movement. Could I get a quote on your '
        "repair programme?",
        "sarcastic|Emailed your press office three times about {topic}. Does anyone read press@ or is it "
        "decorative?",
        "multi-de|Guten Tag, ich schreibe für {outlet} über {topic}. Gibt es einen Pressekontakt?",
        "multi-es|Hola, soy periodista de {outlet}. ¿Podrían comentar sobre {topic}?",
        "neutral|Requesting high-res images & specs of the {product} for an upcoming gear review in "
        "{outlet}.",
        "polite|Hi, I'm putting together a {city} business feature for {outlet}. Any chance of a comment "
        "from your store manager?",
        "terse|Statement on {topic}? Asking for {outlet}.",
        "neutral|Is {brand} at the outdoor retailer show this year? {outlet} would like to set up a "
        "briefing.",
    ),
    CRISIS_SIGNAL: (
        "angry|My Basecamp stove leaked gas and flared up at the campsite. Someone could have been seriously "
        "hurt. What is going on, {brand}??",
        "neutral|Is there a recall on the {recall_product}? Seeing posts saying {recall_defect}.",
        "angry|Your website has been down for {hours} hours and I can't cancel my order. Answer your "
        "customers!",
        'neutral|Anyone else getting emails saying {brand} customer data was leaked? Got a weird "verify '
        'your account" message today.',
        "neutral|Heads up: my TrailLite headlamp got really hot while charging and the casing melted. Photos "
        "in the thread.",
        "angry|My friend broke her wrist when her Alder pole collapsed mid-descent. These are not safe. "
        "{brand} needs to respond.",
        "terse|app down? checkout failing for everyone in {city}",
        "sarcastic|Cool to learn from a forum thread, not from {brand}, that my {recall_product} might be "
        "recalled. Great comms.",
        "emoji|{emoji}{emoji} is it true about the {recall_product} recall?? I take it out every weekend "
        "{emojis}",
        "polite|Hi {brand}, there's a rumour that card details were exposed in a breach. Can you confirm "
        "whether customers are affected?",
        "angry|Two charges I never made, right after ordering from {brand}. Data breach?? Explain.",
        "multi-es|¡Cuidado! Mi hornillo Basecamp tuvo una fuga de gas. {brand}, ¿hay una retirada del "
        "producto?",
        "multi-de|Achtung: bei uns sind zwei Karabiner von {brand} gebrochen. Gibt es einen Rückruf?",
        "neutral|The Kestrel filter I used near {city} left me and two friends sick for days. Is there a "
        "known issue?",
        "terse|is the {brand} site hacked? login page redirects somewhere weird",
        "angry|Tent pole snapped & the frame came down on my kid in the night. She's okay but scared. "
        "{brand}, this is dangerous.",
    ),
    SPAM: (
        "neutral|{emoji} Turn $100 into $5,000 in 48h with {coin}! DM me now {link}",
        "neutral|Buy 10k real followers for only $9.99 >> {link}",
        "emoji|{emojis} GIVEAWAY {emojis} {brand} is giving away 500 free packs!! Claim yours: {link}",
        "neutral|I made {price} this week trading {coin} from my phone. Ask me how {emoji} {link}",
        "terse|check my profile {emoji}",
        "neutral|Hello dear, I see you like outdoors. I am looking for serious friendship. Please add me on "
        "WhatsApp.",
        "shouting|🚀🚀 {coin} TO THE MOON 🚀🚀 LAST CHANCE PRESALE {link}",
        "neutral|Want more engagement? We grow accounts organically. 1000 likes for $5 → {link}",
        "neutral|Congratulations! You have been selected for a free {product}. Verify your wallet: {link}",
        "neutral|DM for promo. Cheap rates, fast results. Fashion, fitness, crypto & more.",
        "multi-es|Gana dinero desde casa con {coin}. Información aquí: {link}",
        "emoji|{emojis} <<< FREE AIRDROP >>> {emojis} connect wallet {link}",
        "neutral|Your account has been flagged for copyright violation. Appeal within 24 hours: {link}",
        "neutral|Nice post! I can design a logo for you for $5. See my portfolio {link}",
    ),
}

# Advocacy is one intent with two sides; supporters outnumber detractors on the cause's own account.
_ADVOCACY_FOR = (
    "polite|Just donated to the {cause}. Thanks {brand} for matching gifts this month! {hashtag}",
    "enthusiastic|Spent Saturday rebuilding switchbacks with the {cause} crew near {city}. Who's in next "
    "time? {emoji}",
    "neutral|How can I volunteer with the {cause}? Happy to do trail work on weekends.",
    "emoji|proud to wear my {cause} patch {emojis} {hashtag}",
    "polite|Does the {cause} take donations from outside the US? Would love to support from {country}.",
    "neutral|Public lands belong to everyone. Glad to see {brand} putting money where its mouth is. "
    "{hashtag}",
    "multi-fr|Bravo {brand} pour le {cause} ! Comment participer depuis {city} ?",
    "terse|signed the petition. {hashtag}",
    "enthusiastic|Our scout troop raised {price} for the {cause}! Where do we send it?",
    "polite|Is there a corporate matching form for the {cause}? My employer matches donations.",
)
_ADVOCACY_AGAINST = (
    "angry|Stick to selling jackets, {brand}. Nobody asked for your politics. Unfollowing.",
    "sarcastic|Love a brand that lectures me about public lands while shipping every {product} across the "
    "planet. Very on-brand.",
    'sarcastic|"1% for trails" & 99% for marketing. Greenwashing 101, {brand}.',
    "angry|Why is my money funding a lobbying campaign? Cancelling my membership. #BoycottNorthwind",
    "terse|{cause} = PR stunt.",
    "neutral|Honest question: how much of the {cause} money actually reaches trail work vs. admin? Publish "
    "the numbers.",
    "multi-de|Ein Outdoor-Händler sollte keine Politik machen. Schade, {brand}.",
)
ADVOCACY_FOR_SHARE = 0.65


@dataclass(frozen=True, slots=True)
class _Template:
    """One post template, parsed once at import: its tone, language and the slots it needs."""

    tone: str
    lang: str
    text: str
    slots: tuple[str, ...]


def _parse_templates(lines: Sequence[str]) -> tuple[_Template, ...]:
    parsed = []
    for line in lines:
        tone, text = line.split("|", 1)
        lang = "en"
        if tone.startswith("multi-"):
            tone, lang = "multilingual", tone.removeprefix("multi-")
        slots = tuple(dict.fromkeys(name for _, name, _, _ in string.Formatter().parse(text) if name))
        unknown = set(slots) - set(_SLOT_FILLERS) - {"recall_product", "recall_defect"}
        if unknown:
            raise ValueError(f"template {text!r} uses unknown slots {sorted(unknown)}")
        parsed.append(_Template(tone=tone, lang=lang, text=text, slots=slots))
    return tuple(parsed)


_TEMPLATES: dict[str, tuple[_Template, ...]] = {
    intent: _parse_templates(lines) for intent, lines in _TEMPLATE_SOURCE.items()
}
_TEMPLATES_ADVOCACY_FOR = _parse_templates(_ADVOCACY_FOR)
_TEMPLATES_ADVOCACY_AGAINST = _parse_templates(_ADVOCACY_AGAINST)

# --- Authors ---------------------------------------------------------------------------------------------

# fmt: off
FIRST_NAMES = (
    "Mara", "Jonas", "Aiko", "Tomás", "Freya", "Kwame", "Lena", "Ravi", "Sofia", "Mateo", "Ingrid", "Chidi",
    "Hana", "Oskar", "Yara", "Eli", "Nadia", "Finn", "Amara", "Luca", "Sunita", "Bjørn", "Camille", "Diego",
    "Emeka", "Greta", "Hiro", "Isla", "Jana", "Kai", "Leila", "Malik", "Noor", "Olga", "Pablo", "Quinn",
    "Rosa", "Sven", "Tariq", "Uma", "Vera", "Wes", "Ximena", "Yusuf", "Zoë", "Ana", "Ben", "Carla", "Dev",
    "Elif", "Felix", "Gwen", "Hugo", "Ines", "Jack", "Keiko", "Liam", "Mina", "Nils", "Orla", "Priyanka",
)
LAST_NAMES = (
    "Okafor", "Lindqvist", "Tanaka", "Reyes", "Haugen", "Mensah", "Bauer", "Iyer", "Rossi", "García",
    "Novak", "Eze", "Kim", "Nilsen", "Haddad", "Brennan", "Petrov", "Walsh", "Dubois", "Silva", "Moreau",
    "Yilmaz", "Schmidt", "Kowalski", "Murphy", "Sato", "Costa", "Berg", "Adeyemi", "Fischer", "Larsen",
    "Nakamura", "Ortiz", "Quist", "Rahman", "Strand", "Torres", "Ueda", "Varga", "Weiss",
)
NICK_FIRST = (
    "mossy", "alpine", "muddy", "wild", "slow", "lost", "happy", "summit", "granite", "foggy", "rainy",
    "sunny", "north", "trail", "river", "cedar", "pine", "lupine", "fern", "basalt", "tarn", "scree",
)
NICK_SECOND = (
    "boots", "hiker", "camper", "peaks", "miles", "trails", "wanderer", "paddler", "climber", "ranger",
    "nomad", "fox", "owl", "goat", "badger", "marmot", "legs", "socks",
)
SYLLABLES = ("ka", "lo", "mi", "ren", "tor", "vel", "sa", "dun", "bri", "ko", "na", "el", "mar", "is", "ul")
BOT_WORDS = ("crypto", "profit", "follow", "boost", "promo", "gains", "airdrop", "moon", "wealth", "viral")
BOT_NAMES = ("Profit Guru", "Crypto King", "Follower Boost", "Promo Queen", "Wealth Coach", "Airdrop Alerts")
INFLUENCER_TAGS = ("outdoors", "adventures", "explores", "onthetrail", "wildways")
# fmt: on

# A few hundred people shared by every channel, so the same customer writes to several accounts.
PEOPLE_COUNT = 290
PRESS_COUNT = 12
INFLUENCER_COUNT = 8
BOT_COUNT = 10
MAX_HANDLE_LENGTH = 15  # X's limit


@dataclass(frozen=True)
class _AuthorPool:
    """Every simulated author for one seed; the index ranges say who is a reporter, influencer or bot."""

    authors: tuple[AuthorData, ...]
    people: range
    press: range
    influencers: range
    bots: range


def _ascii_handle(text: str) -> str:
    # NFKD splits "é" into "e" plus an accent; "ø" has no decomposition, so it is mapped by hand.
    folded = unicodedata.normalize("NFKD", text.replace("ø", "o")).encode("ascii", "ignore").decode()
    return "".join(ch for ch in folded.lower() if ch.isalnum() or ch == "_")


def _person_identity(rng: random.Random) -> tuple[str, str]:
    first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
    style = rng.randrange(7)
    if style == 0:
        handle = f"{first}{last}"
    elif style == 1:
        handle = f"{first}_{last}"
    elif style == 2:
        handle = f"{first}{rng.randint(7, 9999)}"
    elif style == 3:
        handle = f"{rng.choice(NICK_FIRST)}{rng.choice(NICK_SECOND)}"
    elif style == 4:
        handle = f"{first}_{rng.choice(NICK_SECOND)}"
    elif style == 5:
        handle = "".join(rng.choices(SYLLABLES, k=rng.randint(2, 3))) + str(rng.randint(1, 99))
    else:
        handle = f"{first[0]}{last}"
    name_style = rng.randrange(5)
    if name_style == 0:
        display = f"{first} {rng.choice(EMOJI)}"
    elif name_style == 1:
        display = f"{first} {last[0]}."
    elif name_style == 2 and style == 3:
        display = handle.title()
    else:
        display = f"{first} {last}"
    return handle, display


def _author_ids(seed: int, count: int) -> list[str]:
    # Ids look like X user ids and differ between seeds, so changing the seed never re-labels a stored
    # author. A stride coprime with the modulus keeps them distinct.
    base = int.from_bytes(hashlib.blake2b(f"{seed}:authors".encode(), digest_size=8).digest(), "big")
    modulus = 9 * 10**17
    return [str(10**17 + (base + index * 1_000_003) % modulus) for index in range(count)]


@lru_cache(maxsize=8)
def _author_pool(seed: int) -> _AuthorPool:
    """The same seed always gives the same few hundred authors, in the same order."""
    rng = _rng_for(f"{seed}:author-pool")
    total = PEOPLE_COUNT + PRESS_COUNT + INFLUENCER_COUNT + BOT_COUNT
    ids = _author_ids(seed, total)
    taken: set[str] = set()
    authors: list[AuthorData] = []

    def unique(handle: str) -> str:
        handle = _ascii_handle(handle)[:MAX_HANDLE_LENGTH] or "user"
        while handle in taken:
            suffix = str(rng.randint(1, 999))
            handle = handle[: MAX_HANDLE_LENGTH - len(suffix)] + suffix
        taken.add(handle)
        return handle

    for _ in range(PEOPLE_COUNT):
        handle, display = _person_identity(rng)
        # Log-normal reach: most people have a few hundred followers, a handful a great many.
        followers = int(rng.lognormvariate(5.3, 1.6))
        verified = rng.random() < 0.003
        authors.append(AuthorData(ids[len(authors)], unique(handle), display, followers, verified))
    for _ in range(PRESS_COUNT):
        first, last = rng.choice(FIRST_NAMES), rng.choice(LAST_NAMES)
        outlet = rng.choice(OUTLETS).removeprefix("the ")
        handle = rng.choice((f"{first}{last}", f"{first[0]}{last}news", f"{last}reports"))
        followers = int(rng.lognormvariate(9.5, 1.2))
        verified = rng.random() < 0.35
        authors.append(
            AuthorData(ids[len(authors)], unique(handle), f"{first} {last} · {outlet}", followers, verified)
        )
    for _ in range(INFLUENCER_COUNT):
        first = rng.choice(FIRST_NAMES)
        handle = f"{first}{rng.choice(INFLUENCER_TAGS)}"
        followers = int(rng.lognormvariate(11.6, 0.7))
        verified = rng.random() < 0.6
        authors.append(
            AuthorData(
                ids[len(authors)], unique(handle), f"{first} ⛰ {rng.choice(NICK_SECOND)}", followers, verified
            )
        )
    for _ in range(BOT_COUNT):
        handle = f"{rng.choice(BOT_WORDS)}{rng.choice(BOT_WORDS)}{rng.randint(10, 9999)}"
        followers = int(rng.lognormvariate(3.0, 1.5))
        authors.append(
            AuthorData(ids[len(authors)], unique(handle), f"💰 {rng.choice(BOT_NAMES)} 💰", followers, False)
        )
    people_end = PEOPLE_COUNT
    press_end = people_end + PRESS_COUNT
    influencers_end = press_end + INFLUENCER_COUNT
    return _AuthorPool(
        authors=tuple(authors),
        people=range(0, people_end),
        press=range(people_end, press_end),
        influencers=range(press_end, influencers_end),
        bots=range(influencers_end, total),
    )


def _pick_author(rng: random.Random, pool: _AuthorPool, intent: str) -> int:
    roll = rng.random()
    if intent == SPAM and roll < 0.85:
        return _pick(rng, pool.bots)
    if intent == PRESS_QUESTION and roll < 0.7:
        return _pick(rng, pool.press)
    if roll > 0.96:
        return _pick(rng, pool.influencers)
    # Squaring skews towards the front of the pool: a core of regulars writes again and again.
    return pool.people[int(len(pool.people) * rng.random() ** 2)]


# --- Generation ------------------------------------------------------------------------------------------


def _seed_for(key: str) -> int:
    # hashlib, not hash(): Python salts str hashes per process, and the stream must survive restarts.
    return int.from_bytes(hashlib.blake2b(key.encode(), digest_size=8).digest(), "big")


def _rng_for(key: str) -> random.Random:
    return random.Random(_seed_for(key))


def _pick_weighted(rng: random.Random, items: tuple[str, ...], cum_weights: tuple[int, ...]) -> str:
    return items[bisect_right(cum_weights, rng.random() * cum_weights[-1])]


def _keyword_term(query: str) -> str:
    """The words a listening query matches, without search operators ("-is:retweet", "lang:en", OR)."""
    words = [
        word.strip('()"')
        for word in query.split()
        if ":" not in word and not word.startswith("-") and word not in {"OR", "AND"}
    ]
    return " ".join(word for word in words if word)[:60]


@dataclass(frozen=True)
class _ChannelProfile:
    """What a channel's traffic looks like: its own intents, its strays, its share of each."""

    slug: str
    segment: str
    handle: str
    own_intents: tuple[str, ...]
    own_cum_weights: tuple[int, ...]
    stray_intents: tuple[str, ...]
    stray_cum_weights: tuple[int, ...]
    misdirected_share: float
    keyword_terms: tuple[str, ...]

    @classmethod
    def build(cls, seed: int, channel: ChannelRef) -> _ChannelProfile:
        segment = channel.segment_slug
        own = tuple(i for i in INTENTS if INTENT_HOME_SEGMENT[i] == segment)
        stray = tuple(i for i in _MISDIRECTED_WEIGHT if INTENT_HOME_SEGMENT[i] != segment)
        low, high = MISDIRECTED_SHARE_RANGE
        share = low + (high - low) * _rng_for(f"{seed}:{channel.slug}:profile").random()
        terms = tuple(t for t in (_keyword_term(q) for q in channel.listening_queries) if t) or BRAND_TERMS
        return cls(
            slug=channel.slug,
            segment=segment,
            handle=channel.handle.lstrip("@") or BRAND_HANDLE,
            own_intents=own,
            own_cum_weights=tuple(accumulate(_OWN_WEIGHT.get(i, 1) for i in own)),
            stray_intents=stray,
            stray_cum_weights=tuple(accumulate(_MISDIRECTED_WEIGHT[i] for i in stray)),
            misdirected_share=share,
            keyword_terms=terms,
        )


@dataclass(frozen=True, slots=True)
class _Skeleton:
    """The parts of a post that later posts depend on: who wrote it, and which thread it belongs to."""

    intent: str
    author_index: int
    parent_seq: int  # 0 when the post starts its own conversation


class _ChannelStream:
    """Generates the posts of one channel for one seed; remembers skeletons so threads resolve cheaply."""

    def __init__(self, seed: int, channel: ChannelRef) -> None:
        self.seed = seed
        self.profile = _ChannelProfile.build(seed, channel)
        self.pool = _author_pool(seed)
        self._id_stem = self._external_id_stem(channel.slug)
        self.bluesky = channel.credentials.get(SHAPE_CREDENTIAL) == BLUESKY_SHAPE
        self._key_base = _seed_for(f"{seed}:{channel.slug}:keys") % (32**9)
        self._skeletons: dict[int, _Skeleton] = {}
        # Two generators: looking up an earlier post's thread must not disturb the post being written.
        self._post_rng = random.Random()
        self._lookup_rng = random.Random()
        self._peek_rng = random.Random()
        self._is_direct: dict[int, bool] = {}

    @staticmethod
    def _external_id_stem(slug: str) -> str:
        stem = f"sim-{slug}-"
        # Leave room for a long seq; very long slugs are shortened to a stable digest instead.
        if len(stem) + 12 > MAX_EXTERNAL_ID_LENGTH:
            stem = f"sim-{hashlib.blake2b(slug.encode(), digest_size=10).hexdigest()}-"
        return stem

    def external_id(self, seq: int) -> str:
        if self.bluesky:
            author = self.pool.authors[self.skeleton(seq).author_index]
            return f"at://{_bluesky_did(author)}/app.bsky.feed.post/{self._record_key(seq)}"
        return f"{self._id_stem}{seq}"

    def _record_key(self, seq: int) -> str:
        """A 13-character key in Bluesky's alphabet that sorts as ``seq`` does within the channel."""
        value = self._key_base * 32**3 + seq
        digits = []
        for _ in range(12):
            value, digit = divmod(value, 32)
            digits.append(_TID_ALPHABET[digit])
        return "3" + "".join(reversed(digits))

    def _draw_skeleton(self, rng: random.Random, seq: int) -> _Skeleton:
        profile = self.profile
        roll = rng.random()
        if roll < SPAM_SHARE:
            intent = SPAM
        elif roll < SPAM_SHARE + profile.misdirected_share or not profile.own_intents:
            intent = _pick_weighted(rng, profile.stray_intents, profile.stray_cum_weights)
        else:
            intent = _pick_weighted(rng, profile.own_intents, profile.own_cum_weights)
        author_index = _pick_author(rng, self.pool, intent)
        parent_seq = 0
        if seq > 1 and rng.random() < REPLY_SHARE:
            parent_seq = seq - _between(rng, 1, min(REPLY_REACH, seq - 1))
        skeleton = _Skeleton(intent=intent, author_index=author_index, parent_seq=parent_seq)
        self._skeletons[seq] = skeleton
        return skeleton

    def _seeded(self, rng: random.Random, seq: int) -> random.Random:
        # Re-seeding a kept generator is cheaper than building one per post.
        rng.seed(_seed_for(f"{self.seed}:{self.profile.slug}:{seq}"))
        return rng

    def skeleton(self, seq: int) -> _Skeleton:
        cached = self._skeletons.get(seq)
        return cached if cached is not None else self._draw_skeleton(self._seeded(self._lookup_rng, seq), seq)

    def conversation_key(self, seq: int) -> str:
        # Walk up to the thread's first post; each step goes to an earlier seq, so this ends.
        while (parent := self.skeleton(seq).parent_seq) != 0:
            seq = parent
        return self.external_id(seq)

    def post(self, seq: int, now: datetime, *, shaped: bool = True) -> Post:
        """Post number ``seq``; with ``shaped`` False, as X shapes it whatever the channel's shape (a look
        at an earlier post, with a generator of its own, that leaves the post being written undisturbed)."""
        bluesky = self.bluesky and shaped
        rng = self._seeded(self._post_rng if shaped else self._peek_rng, seq)
        skeleton = self._draw_skeleton(rng, seq)
        profile = self.profile
        author = self.pool.authors[skeleton.author_index]
        if bluesky:
            author = _bluesky_author(author)
        intent = skeleton.intent

        stance = None
        if intent == ADVOCACY:
            stance = "for" if rng.random() < ADVOCACY_FOR_SHARE else "against"
            templates = _TEMPLATES_ADVOCACY_FOR if stance == "for" else _TEMPLATES_ADVOCACY_AGAINST
        else:
            templates = _TEMPLATES[intent]
        template = _pick(rng, templates)
        body, tone = _fill(rng, template), template.tone
        if tone == "angry" and rng.random() < SHOUTING_SHARE:
            body, tone = body.upper(), "shouting"

        external_id = self.external_id(seq)
        parent_author = None
        if skeleton.parent_seq:
            kind = "reply"
            parent_author = self.pool.authors[self.skeleton(skeleton.parent_seq).author_index]
            if bluesky:
                parent_author = _bluesky_author(parent_author)
            # Replies start with the handles of the thread, as X writes them.
            addressees = [f"@{parent_author.handle}"] if parent_author.handle != author.handle else []
            text = _compose(" ".join([*addressees, f"@{profile.handle}"]) + " ", body, "")
        else:
            roll = rng.random()
            if roll < DM_SHARE:
                kind, text = "dm", _compose("", body, "")
            elif roll < DM_SHARE + KEYWORD_SHARE:
                kind, text = "keyword", _with_keyword(rng, body, _pick(rng, profile.keyword_terms))
            elif rng.random() < 0.75:
                kind, text = "mention", _compose(f"@{profile.handle} ", body, "")
            else:
                kind, text = "mention", _compose("", body, f" @{profile.handle}")

        # ``now`` is already whole milliseconds, as X reports them, so the raw timestamp is exact.
        created_at = now - timedelta(milliseconds=_between(rng, 0, CREATED_JITTER_MS))
        conversation_key = self.conversation_key(seq) if skeleton.parent_seq else external_id
        in_reply_to = self.external_id(skeleton.parent_seq) if skeleton.parent_seq else ""
        home_segment = INTENT_HOME_SEGMENT[intent] or profile.segment

        raw: dict[str, Any] = {
            "id": external_id,
            "text": text,
            "author_id": author.external_id,
            "created_at": created_at.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "conversation_id": conversation_key,
            "edit_history_tweet_ids": [external_id],
            "lang": template.lang,
        }
        if parent_author is not None:
            raw["in_reply_to_user_id"] = parent_author.external_id
            raw["referenced_tweets"] = [{"type": "replied_to", "id": in_reply_to}]
        raw["simulation"] = {
            "seq": seq,
            "intent": intent,
            "home_segment": home_segment,
            "tone": tone,
            "misdirected": home_segment != profile.segment,
            "stance": stance,
        }
        url = (
            f"{SIM_HOST}/messages/{external_id}"
            if kind == "dm"
            else f"{SIM_HOST}/{author.handle}/status/{external_id}"
        )
        if bluesky:
            return self._bluesky_post(seq, kind, text, created_at, author, raw, now)
        return Post(
            network=NETWORK,
            external_id=external_id,
            kind=kind,
            text=text,
            created_at=created_at,
            author=author,
            conversation_key=conversation_key,
            in_reply_to=in_reply_to,
            url=url,
            raw=raw,
        )

    def _bluesky_post(
        self,
        seq: int,
        kind: str,
        text: str,
        created_at: datetime,
        author: AuthorData,
        x_shaped: Mapping[str, Any],
        now: datetime,
    ) -> Post:
        """The post as Bluesky would hand it over: a notification (or a chat message) around a post record."""
        created = x_shaped["created_at"]
        conversation_key, in_reply_to = self._bluesky_thread(seq, now)
        if kind == "reply" and not in_reply_to:
            kind = "mention"  # it answered a direct message, which no post can do on Bluesky
        if kind == "dm":
            convo = f"sim-convo-{author.external_id.rsplit(':', 1)[-1]}"
            external_id = f"chat:{convo}:{self._record_key(seq)}"
            raw: dict[str, Any] = {
                "message": {
                    "$type": "chat.bsky.convo.defs#messageView",
                    "id": self._record_key(seq),
                    "rev": self._record_key(seq),
                    "text": text,
                    "sender": {"did": author.external_id},
                    "sentAt": created,
                },
                "convo_id": convo,
            }
            return Post(
                network=NETWORK,
                external_id=external_id,
                kind=kind,
                text=text,
                created_at=created_at,
                author=author,
                conversation_key=f"chat:{convo}",
                url=f"{SIM_HOST}/messages/{convo}",
                raw={**raw, "lang": x_shaped["lang"], "simulation": x_shaped["simulation"]},
            )
        external_id = self.external_id(seq)
        conversation_key = conversation_key or external_id
        record: dict[str, Any] = {
            "$type": "app.bsky.feed.post",
            "text": text,
            "createdAt": created,
            "langs": [x_shaped["lang"]],
        }
        if in_reply_to:
            record["reply"] = {
                "root": {"uri": conversation_key, "cid": _bluesky_cid(conversation_key)},
                "parent": {"uri": in_reply_to, "cid": _bluesky_cid(in_reply_to)},
            }
        raw = {
            "uri": external_id,
            "cid": _bluesky_cid(external_id),
            "author": {
                "did": author.external_id,
                "handle": author.handle,
                "displayName": author.display_name,
            },
            "reason": "reply" if in_reply_to else "mention",
            "record": record,
            "isRead": False,
            "indexedAt": created,
            "lang": x_shaped["lang"],
            "simulation": x_shaped["simulation"],
        }
        return Post(
            network=NETWORK,
            external_id=external_id,
            kind=kind,
            text=text,
            created_at=created_at,
            author=author,
            conversation_key=conversation_key,
            in_reply_to=in_reply_to,
            url=f"{SIM_HOST}/profile/{author.handle}/post/{external_id.rsplit('/', 1)[-1]}",
            raw=raw,
        )

    def _bluesky_thread(self, seq: int, now: datetime) -> tuple[str, str]:
        """(root, parent) URIs of a reply, or ("", "") for a post that starts a thread. Only a thread's first
        post can be a direct message (a reply never is); where one is, the thread starts below it."""
        parent = self.skeleton(seq).parent_seq
        if not parent or self._is_direct_message(parent, now):
            return "", ""
        root = parent
        while (up := self.skeleton(root).parent_seq) and not self._is_direct_message(up, now):
            root = up
        return self.external_id(root), self.external_id(parent)

    def _is_direct_message(self, seq: int, now: datetime) -> bool:
        if seq not in self._is_direct:
            self._is_direct[seq] = self.post(seq, now, shaped=False).kind == "dm"
        return self._is_direct[seq]


def _bluesky_did(author: AuthorData) -> str:
    digest = hashlib.blake2b(f"did:{author.external_id}".encode(), digest_size=24).digest()
    return "did:plc:" + "".join(_TID_ALPHABET[byte % 32] for byte in digest)


def _bluesky_author(author: AuthorData) -> AuthorData:
    """The same person on Bluesky: a DID for an id, a handle under bsky.social."""
    if author.external_id.startswith("did:"):
        return author
    handle = f"{author.handle.replace('_', '-').strip('-') or 'user'}.{BLUESKY_HANDLE_DOMAIN}"
    return AuthorData(
        external_id=_bluesky_did(author),
        handle=handle,
        display_name=author.display_name,
        follower_count=author.follower_count,
        is_verified=author.is_verified,
    )


def _bluesky_cid(uri: str) -> str:
    return "bafyrei" + hashlib.blake2b(uri.encode(), digest_size=26).hexdigest()[:52]


def _fill(rng: random.Random, template: _Template) -> str:
    if not template.slots:
        return template.text
    values = {slot: _SLOT_FILLERS[slot](rng) for slot in template.slots if slot in _SLOT_FILLERS}
    for first, second, choices in _PAIRED_SLOTS:
        if second in values and values[second] == values.get(first):
            values[second] = choices[(choices.index(values[second]) + 1) % len(choices)]
    if "recall_product" in template.slots or "recall_defect" in template.slots:
        values["recall_product"], values["recall_defect"] = _pick(rng, RECALLS)
    return template.text.format_map(values)


def _compose(prefix: str, body: str, suffix: str) -> str:
    """Join the parts, shortening the body (never a handle or keyword) to fit the network's limit."""
    room = MAX_TEXT_LENGTH - len(prefix) - len(suffix)
    if len(body) > room:
        body = body[: max(room - 1, 0)].rstrip() + "…"
    return f"{prefix}{body}{suffix}"[:MAX_TEXT_LENGTH]


def _with_keyword(rng: random.Random, body: str, term: str) -> str:
    # A keyword hit is found by search, not addressed to the account: it names the term, not the handle.
    if term.lower() in body.lower():
        return _compose("", body, "")
    if term.startswith("#") or rng.random() < 0.5:
        return _compose("", body, f" {term}")
    return _compose(f"{term}: ", body, "")


# --- The connector ---------------------------------------------------------------------------------------


@register(NETWORK)
class SimulatedConnector:
    """A network that needs no account: seeded, endless, realistic posts for every channel.

    Pulls trickle (0-4 posts, as a quiet account polled often) unless ``page_size`` or the channel's
    ``posts_per_pull`` credential asks for exactly that many, as benchmarks and backfills do.
    """

    network = NETWORK
    label = "Simulated"  # what people read for the network
    # It stands in for X, so replies are counted as X counts them.
    capabilities = Capabilities(
        reply_rules=X_REPLY_RULES, history=False, direct_messages=True, listening=True
    )

    def __init__(
        self,
        *,
        seed: int | None = None,
        clock: Callable[[], datetime] | None = None,
        page_size: int | None = None,
    ) -> None:
        if seed is None:
            # Read here, not at import, so tests that change the setting see their own seed.
            seed = int(settings.SOCIALOPS_SIMULATED_SEED)
        if page_size is not None and page_size < 0:
            raise ValueError("page_size must be zero or more")
        self.seed = seed
        self.clock = clock or timezone.now
        self.page_size = page_size

    def fetch(self, channel: ChannelRef, cursor: Mapping[str, Any]) -> Page:
        """Return the posts after ``cursor["seq"]`` (0 when the cursor is empty) and the cursor after them.

        An empty pull returns ``{"seq": n, "idle": k}``: without the count of empty pulls the next pull
        would see the same cursor, draw the same empty size, and the channel would stall for good.
        """
        start, idle = _cursor_position(cursor)
        page_size = self.page_size if self.page_size is not None else _channel_page_size(channel)
        count = page_size if page_size is not None else self._trickle_size(channel, start, idle)
        backlog = channel.credentials.get(BACKLOG_CREDENTIAL)
        if isinstance(backlog, int):
            count = max(0, min(count, backlog - start))  # the backlog is all there is
        now = self.clock()
        if timezone.is_naive(now):  # a hand-made test clock; Django's own is aware whenever USE_TZ is on
            now = now.replace(tzinfo=UTC)
        # Rounded down to whole milliseconds (X's precision), which also keeps every post out of the future.
        now = now.astimezone(UTC)
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)
        stream = _ChannelStream(self.seed, channel)
        posts = tuple(stream.post(seq, now) for seq in range(start + 1, start + count + 1))
        next_cursor = {"seq": start + count} if count else {"seq": start, "idle": idle + 1}
        has_more = isinstance(backlog, int) and count > 0 and start + count < backlog
        return Page(posts=posts, cursor=next_cursor, has_more=has_more)

    def endpoints(self, channel: ChannelRef) -> tuple[tuple[str, str], ...]:
        """The simulated network has no rate limits."""
        return ()

    def reply(self, channel: ChannelRef, *, in_reply_to: str, text: str) -> SentReply:
        """Accept the reply; its id is derived from what it answers and says, so a resend gets the same id."""
        reply_id = _sent_id(channel, in_reply_to, text)
        handle = channel.handle.lstrip("@")
        return SentReply(external_id=reply_id, url=f"{SIM_HOST}/{handle}/status/{reply_id}")

    def send_direct_message(self, channel: ChannelRef, *, recipient_id: str, text: str) -> SentReply:
        """Accept the direct message, as :meth:`reply` does."""
        message_id = _sent_id(channel, f"dm:{recipient_id}", text)
        return SentReply(external_id=message_id, url=f"{SIM_HOST}/messages/{message_id}")

    def _trickle_size(self, channel: ChannelRef, start: int, idle: int) -> int:
        rng = _rng_for(f"{self.seed}:{channel.slug}:pull:{start}:{idle}")
        return _TRICKLE_SIZES[bisect_right(_TRICKLE_CUM_WEIGHTS, rng.random() * _TRICKLE_CUM_WEIGHTS[-1])]


def _sent_id(channel: ChannelRef, target: str, text: str) -> str:
    digest = hashlib.sha256(f"{channel.slug}|{target}|{text}".encode()).hexdigest()[:16]
    return f"sim-sent-{digest}"


def _channel_page_size(channel: ChannelRef) -> int | None:
    """A simulated channel may ask for fixed-size pulls in its credentials (``posts_per_pull``), which is
    how a benchmark gets full pages through the registry, which builds the connector with no arguments."""
    size = channel.credentials.get(POSTS_PER_PULL_CREDENTIAL)
    if size is None:
        return None
    if isinstance(size, bool) or not isinstance(size, int) or size < 0:
        raise ConnectorError(f"{POSTS_PER_PULL_CREDENTIAL} must be a non-negative integer, got {size!r}")
    return size


def _cursor_position(cursor: Mapping[str, Any]) -> tuple[int, int]:
    """The last seq delivered and how many empty pulls followed it; a stored cursor may be anything."""
    start, idle = cursor.get("seq", 0), cursor.get("idle", 0)
    for value in (start, idle):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConnectorError(f"simulated cursor needs non-negative integer seq and idle, got {cursor!r}")
    return start, idle
