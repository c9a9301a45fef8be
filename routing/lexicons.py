"""Our own words and patterns for each intent, in English and the common words of es/fr/de/pt/it/nl.

They are written out in full so an admin can read why a post got its intent: every hit names the words
that matched. Each intent's patterns come in three strengths (a phrase that all but settles the intent, a
word that leans towards it, a faint hint) and compile into ONE regular expression per intent whose named
groups say which strength matched, so a post costs one scan per intent whatever the number of patterns.

Patterns are matched against the lower-cased text, whole words only; a space in a pattern matches any run of
white space. They are regular-expression fragments: ``\\w*`` ends a stem ("donat\\w*"), ``?`` makes a letter
optional.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from routing.facts import INTENTS

# How much one hit adds to its intent's score: a phrase that all but settles the intent, a word that leans
# towards it, a faint hint that only tips a close call.
STRONG = 2.0
NORMAL = 1.0
HINT = 0.5


@dataclass(frozen=True, slots=True)
class Lexicon:
    """One intent's patterns, by strength."""

    strong: tuple[str, ...] = ()
    normal: tuple[str, ...] = ()
    hints: tuple[str, ...] = ()


# Lists read better as paragraphs than one pattern a line.
# fmt: off
LEXICONS: dict[str, Lexicon] = {
    "support_question": Lexicon(
        strong=(
            # en
            r"how (?:do|can|should|would) (?:i|we|you)", r"how to",
            r"where(?:'s| is) my (?:order|package|parcel|"
            r"delivery|refund|shipment|return)", r"track(?:ing)? (?:my )?(?:order|package|parcel|number|info|"
            r"link|page)", r"order status", r"status of my (?:order|return|refund|claim)", r"warranty claim",
            r"(?:start|make|file|open) a (?:return|warranty|claim)", r"(?:can't|cannot|can not|unable to|"
            r"couldn't) (?:log ?in|sign ?in|access|reset|find|download|connect|update|change|cancel)",
            r"password reset", r"reset (?:my |the )?password", r"(?:user )?manual", r"instructions",
            r"user guide", r"spare parts?", r"replacement (?:part|parts|pole|strap|buckle|zip|zipper)",
            r"repair (?:service|programme|program|kit)", r"return (?:window|policy|label|period)",
            r"(?:swap|exchange) (?:it|my|this|for)", r"wrong size", r"care (?:label|instructions)",
            r"how (?:long|often)", r"can (?:someone|anyone|you) help", r"need (?:some )?help", r"help me",
            r"still says", r"hasn't (?:updated|arrived|shipped|moved)", r"is there a way",
            r"does (?:it|the|my)"
            r" \w+(?: \w+)?(?: \w+)? (?:come with|work with|fit|include)",
            r"(?:could|can) you (?:check|look into|look at|confirm|help|tell me)", r"any update on",
            # es, fr, de, pt, it, nl
            r"c[oó]mo (?:puedo|hago|se)", r"mi pedido", r"no puedo", r"devolver", r"devoluci[oó]n",
            r"comment (?:puis-je|faire|je peux)", r"ma commande", r"je ne (?:peux|trouve) pas",
            r"wie (?:kann|lange|funktioniert)", r"meine bestellung", r"r[üu]cksendung", r"sendungsverfolgung",
            r"como (?:posso|fa[çc]o)", r"meu pedido", r"n[ãa]o consigo", r"devolu[çc][ãa]o",
            r"come (?:posso|faccio)", r"il mio ordine", r"non riesco", r"hoe (?:kan|moet) ik",
            r"mijn bestelling", r"retourneren",
        ),
        normal=(
            r"help", r"tracking", r"track", r"warranty", r"guarantee", r"repair", r"replace", r"exchange",
            r"return", r"returns", r"refund", r"delivery", r"shipping", r"shipped", r"login", r"log in",
            r"sign in", r"password", r"account", r"invoice", r"receipt", r"order", r"package", r"parcel",
            r"wash\w*", r"clean", r"support", r"question", r"broke\w*", r"size", r"wrong",
            r"ayuda", r"garant[ií]a", r"env[ií]o", r"seguimiento", r"reembolso", r"cambiar", r"aide",
            r"garantie", r"livraison", r"retour", r"remboursement", r"suivi", r"mot de passe", r"hilfe",
            r"versand", r"lieferung", r"umtausch", r"r[üu]ckerstattung", r"passwort", r"ajuda", r"garantia",
            r"entrega", r"troca", r"rastreamento", r"senha", r"aiuto", r"garanzia", r"spedizione",
            r"consegna", r"reso", r"rimborso", r"hulp", r"levering", r"verzending", r"terugbetaling",
            r"wachtwoord",
        ),
        hints=(r"\?", r"thanks", r"thank you", r"hi", r"hello", r"please", r"days", r"still"),
    ),
    "complaint": Lexicon(
        strong=(
            # en
            r"ridiculous", r"unacceptable", r"disappoint\w*", r"terrible", r"worst", r"never again",
            r"never (?:buying|ordering|shopping|buy|order)", r"waste of (?:money|time)", r"fell apart",
            r"falling apart", r"broke after", r"poor(?:ly)? (?:quality|made|service)", r"still no",
            r"still waiting", r"still haven't", r"no (?:reply|response|answer|one answers)",
            r"(?:nobody|no one|noone) (?:answers|responds|replies|gets back|cares|helps)", r"on hold",
            r"charged (?:me )?twice", r"double charged", r"overcharged", r"rip ?off", r"ripped off",
            r"(?:want|need) (?:my money back|a refund|to talk to|to speak to)",
            r"(?:talk|speak) to (?:a )?(?:human|manager|real person|supervisor)", r"fix (?:it|this)",
            r"sort (?:it|this) out", r"not good enough", r"shame on you", r"useless", r"awful", r"horrible",
            r"pathetic", r"furious", r"fed up", r"sick of", r"closing my ticket", r"closed my ticket",
            r"ignor(?:ed|ing) (?:me|my)", r"wrong item", r"defective", r"faulty", r"damaged", r"crushed",
            r"soaking wet", r"refused (?:my|to)", r"quality (?:has|really|just)? ?(?:slipped|dropped|gone "
            r"down|declined)", r"not (?:happy|impressed|acceptable|ok|okay)", r"(?:so|very|really) "
            r"(?:annoyed|frustrated|angry|upset|disappointed)", r"frustrat\w*", r"a joke", r"joke of a",
            r"my foot", r"just a suggestion", r"thanks for nothing",
            r"leaks in", r"seams? split", r"arrived (?:broken|damaged|wet|late|soaking)", r"never arrived",
            r"never received", r"hasn't arrived", r"loyal customer",
            # es, fr, de, pt, it, nl
            r"p[ée]sim[oa]", r"verg[üu]enza", r"sigo esperando", r"nadie (?:responde|contesta)",
            r"nunca lleg[óo]", r"decepcionad[oa]", r"mala calidad", r"no funciona", r"inadmissible",
            r"scandaleux", r"honte", r"d[ée][çc]u(?:e)?", r"toujours pas", r"personne ne r[ée]pond",
            r"jamais re[çc]u", r"mauvaise qualit[ée]", r"ne fonctionne pas", r"entt[äa]uscht",
            r"unversch[äa]mt", r"frechheit", r"katastroph\w*", r"niemand antwortet", r"nie angekommen",
            r"funktioniert nicht", r"mangelhaft", r"vergonha", r"absurdo", r"ningu[ée]m responde",
            r"nunca chegou", r"n[ãa]o chegou", r"horr[ií]vel", r"vergogna", r"pessim[oa]", r"delus[oa]",
            r"schifo", r"nessuno risponde", r"mai arrivat[oa]", r"non funziona", r"schandalig",
            r"teleurgesteld", r"belachelijk", r"niemand reageert", r"nooit ontvangen", r"echt slecht",
        ),
        normal=(
            r"refund", r"again", r"still", r"waiting", r"weeks", r"broken", r"broke", r"leak\w*", r"wet",
            r"late", r"missing", r"lost", r"cancel\w*", r"complain\w*", r"rude", r"bad", r"poor", r"slow",
            r"annoy\w*", r"angry", r"upset", r"disgust\w*", r"scam\w*", r"mess", r"nobody", r"no one",
            r"ticket", r"twice", r"third time", r"ignored", r"unfollow\w*", r"slipped", r"split",
            r"terrible", r"not a great", r"paid", r"esperando", r"malo", r"mal", r"roto", r"nul(?:le)?",
            r"attente", r"cass[ée]", r"schlecht", r"kaputt", r"warte\w*", r"immer noch", r"ruim",
            r"quebrad[oa]",
            r"esperando", r"rott[oa]", r"aspetto", r"slecht", r"kapot", r"wachten", r"nog steeds",
        ),
        hints=(r"!!+", r"\?\?+", r"seriously", r"honestly", r"days", r"email", r"chat"),
    ),
    "praise": Lexicon(
        strong=(
            # en
            r"thank you so much", r"thanks so much", r"huge thanks", r"many thanks", r"big thanks",
            r"love (?:my|the|it|this|your|these|how)", r"(?:i|we) love", r"loving (?:my|the|it|this)",
            r"best (?:purchase|gear|jacket|boots|tent|pack|service|brand|company|investment|buy)",
            r"best \w+ ever", r"amazing", r"awesome", r"fantastic", r"excellent", r"flawless", r"perfect\w*",
            r"great (?:service|job|product|quality|experience|support|team|gear)", r"(?:highly )?recommend",
            r"shout ?out", r"kudos", r"bone dry", r"still going strong", r"holding up", r"held up",
            r"good as new", r"well done", r"impressed", r"brilliant", r"outstanding", r"worth every",
            r"made my day", r"(?:you|y'all|you guys) rock", r"legend\w*", r"10/10", r"credit where",
            r"not a single (?:issue|problem|leak)", r"never (?:let me down|failed)", r"so happy",
            r"(?:very|so|really) (?:happy|pleased|impressed)", r"love it", r"<3", r"❤️?", r"😍", r"🙌",
            r"incredible", r"superb",
            # es, fr, de, pt, it, nl
            r"incre[ií]ble", r"excelente", r"me encanta", r"lo recomiendo", r"genial", r"perfect[oa]",
            r"parfait\w*", r"g[ée]nial", r"je (?:le |la )?recommande", r"j'adore", r"au top", r"bravo",
            r"perfekt", r"begeistert", r"gro[ßs]artig", r"spitze", r"empfehle\w*", r"incr[ií]vel",
            r"perfeit[oa]", r"adorei", r"recomendo", r"maravilhos[oa]", r"fantastic[oa]", r"perfett[oa]",
            r"ottim[oa]", r"lo consiglio", r"bravissim\w*", r"geweldig", r"aanrader", r"fantastisch",
        ),
        normal=(
            r"thanks", r"thank you", r"love", r"loved", r"great", r"good", r"happy", r"nice", r"beautiful",
            r"comfortable", r"comfy", r"warm", r"dry", r"durable", r"sturdy", r"quality", r"best",
            r"favou?rite",
            r"appreciate\w*", r"grateful", r"helpful", r"friendly", r"fast", r"quick", r"survived",
            r"years old", r"summited", r"gracias", r"merci", r"danke", r"toll", r"klasse", r"super",
            r"obrigad[oa]", r"grazie", r"bedankt", r"dank je", r"top",
        ),
        hints=(r"!", r"🔥", r"💯", r"✨", r"🥾", r"🏔️?", r"👍"),
    ),
    "purchase_question": Lexicon(
        strong=(
            # en
            r"(?:back )?in stock", r"restock\w*", r"coming back", r"pre-?order\w*", r"discount\w*",
            r"promo code", r"coupon\w*", r"code still", r"on sale", r"black friday",
            r"price match", r"how much (?:is|are|does|do|for)", r"do you (?:ship|deliver) to",
            r"(?:ship|shipping|deliver) to", r"available in", r"comes? in (?:size|colou?r|\w+ colou?r)",
            r"difference between", r"which (?:one|is better|should i)", r"should i (?:buy|get|just buy)",
            r"(?:want|looking|trying|planning) to (?:buy|order|get)", r"where can i (?:buy|get|find)",
            r"(?:student|first-responder|military|club|bulk|group|team|nhs) (?:discount|order|rate|price)\w*",
            r"wholesale", r"gift (?:for|idea|card)", r"worth (?:it|the money|buying)", r"release date",
            r"(?:buy|order) (?:it|one|two|now|today)", r"i'd buy", r"take my money", r"give you my money",
            r"cart", r"checkout code", r"in size", r"size \w+\?", r"restock date", r"price include",
            r"is that extra", r"coming soon", r"have (?:it|them|the \w+(?: \w+)?) in stock",
            # es, fr, de, pt, it, nl
            r"precio", r"cu[aá]nto cuesta", r"descuento", r"oferta", r"disponible",
            r"tienen (?:el|la|los|las)",
            r"quiero comprar", r"env[ií]an a", r"combien (?:co[uû]te|pour)", r"prix", r"r[ée]duction",
            r"code promo", r"en stock", r"acheter", r"was kostet", r"preis", r"rabatt", r"gutschein",
            r"verf[üu]gbar", r"lieferbar", r"auf lager", r"gibt es (?:den|die|das) \w+", r"kaufen",
            r"pre[çc]o", r"quanto custa", r"desconto", r"dispon[ií]vel", r"cupom", r"prezzo",
            r"quanto costa", r"sconto", r"disponibile", r"comprare", r"prijs", r"wat kost", r"korting",
            r"beschikbaar", r"op voorraad", r"kopen",
        ),
        normal=(
            r"price", r"prices", r"cost\w*", r"buy", r"buying", r"purchase", r"sale", r"deal", r"deals",
            r"offer", r"stock", r"colou?rs?", r"sizes", r"sizing", r"fit", r"ship", r"international",
            r"pay", r"afford", r"cheaper", r"expensive", r"vs\.?", r"versus", r"compare", r"new", r"launch",
            r"gift", r"code", r"checkout", r"store", r"try it on", r"talla", r"comprar", r"taille",
            r"gr[öo][ßs]e", r"tamanho", r"taglia", r"maat", r"estudiantes", r"students?",
        ),
        hints=(r"\?", r"today", r"weekend", r"eyeing"),
    ),
    "event_question": Lexicon(
        strong=(
            # en
            r"tickets", r"tix", r"(?:a|one|two|my|our|the|day|vip|weekend|kids?|child|student|festival|gig) "
            r"ticket (?:for|to|at|on)", r"day pass(?:es)?", r"weekend pass(?:es)?", r"passes", r"line-?up",
            r"schedule", r"agenda", r"venue", r"parking", r"livestream\w*", r"live ?stream\w*",
            r"doors open", r"what time does", r"(?:open|start)s? on", r"registration", r"register for",
            r"sign up (?:for|to)", r"rsvp", r"festival", r"\w*fest", r"meet-?up", r"attend\w*", r"shuttle\w*",
            r"on site", r"on-site", r"wheelchair", r"accessib\w*", r"keynote", r"booth", r"workshop\w*",
            r"gear swap", r"race (?:bib|packet|start)", r"bib pickup", r"packet pickup", r"expo",
            r"conference", r"in person", r"what should i (?:pack|bring)", r"can (?:i|we) bring",
            # es, fr, de, pt, it, nl
            r"entradas", r"boletos", r"evento", r"horario", r"inscripci[oó]n", r"estacionamiento",
            r"billets?", r"[ée]v[ée]nement", r"navettes?", r"inscription", r"horaires", r"kindertickets?",
            r"karten", r"veranstaltung", r"anmeldung", r"eintritt", r"ingressos", r"programa[çc][ãa]o",
            r"inscri[çc][ãa]o", r"biglietti", r"iscrizione", r"parcheggio", r"kaartjes", r"evenement",
            r"inschrijv\w*",
        ),
        normal=(
            r"event", r"events", r"talks?", r"speakers?", r"session\w*", r"camping", r"volunteer at",
            r"day", r"saturday", r"sunday", r"friday", r"weekend", r"open", r"kids", r"family", r"dog",
            r"bring", r"pack", r"drive", r"trains?", r"book", r"programme", r"program", r"programm",
            r"programma", r"race", r"run", r"familie", r"famille", r"gare",
        ),
        hints=(r"\?", r"when", r"what time", r"first time"),
    ),
    "press_question": Lexicon(
        strong=(
            # en
            r"journalist\w*", r"reporter", r"press (?:team|office|contact|inquir\w*|enquir\w*|release|kit|"
            r"officer|person|department)", r"media (?:inquir\w*|enquir\w*|contact|request\w*|relations)",
            r"for an? (?:story|piece|article|feature|report|segment)",
            r"working on an? (?:story|piece|article)",
            r"preparing an? (?:piece|story|article|feature)", r"(?:could|can|would) (?:someone|you|your \w+) "
            r"comment", r"comment (?:on|from)", r"(?:a |your )?statement", r"(?:get|give) (?:me )?a quote",
            r"interview", r"on deadline", r"deadline", r"podcast", r"editor",
            r"writing (?:for|about|a piece)",
            r"i write for", r"newsroom", r"press@", r"high-res", r"b-roll", r"briefing",
            r"spokes(?:person|man|"
            r"woman)", r"on the record", r"off the record", r"confirm (?:reports|rumou?rs|the reports)",
            r"for comment", r"gear review", r"business feature", r"media",
            # es, fr, de, pt, it, nl
            r"periodista", r"prensa", r"entrevista", r"declaraci[oó]n", r"comentar sobre", r"reportaje",
            r"journaliste", r"presse", r"d[ée]claration", r"reportage", r"pressekontakt", r"stellungnahme",
            r"ich schreibe f[üu]r", r"jornalista", r"imprensa", r"reportagem", r"declara[çc][ãa]o",
            r"giornalista", r"stampa", r"intervista", r"dichiarazione", r"pers", r"persvoorlicht\w*",
            r"verklaring",
        ),
        normal=(
            r"press", r"story", r"article", r"piece", r"quote", r"comment", r"confirm", r"reports",
            r"magazine", r"news", r"newspaper", r"outlet", r"coverage", r"ceo", r"r&d", r"images", r"specs",
            r"layoffs", r"supply chain", r"sustainability report", r"audit", r"artikel", r"article",
            r"articolo",
        ),
        hints=(r"dm", r"contact", r"who handles", r"who should i contact"),
    ),
    "crisis_signal": Lexicon(
        strong=(
            # en
            r"recall\w*", r"data (?:breach|leak)", r"breach\w*", r"leaked (?:data|details|passwords|emails?)",
            r"customer data", r"card details", r"hacked", r"hack", r"phishing", r"exposed", r"unsafe",
            r"not safe", r"dangerous", r"danger", r"injur\w*", r"hurt", r"hospital\w*", r"burn(?:ed|t|s)?",
            r"caught fire", r"on fire", r"fire", r"flared up", r"explo\w+", r"melted", r"overheat\w*",
            r"gas leak", r"leaked gas", r"leaking gas", r"got sick", r"(?:left|made) (?:me|us|them|my \w+) "
            r"sick", r"poison\w*", r"collapsed", r"snapped", r"broke (?:her|his|my|their) (?:wrist|arm|leg|"
            r"ankle|hand|finger|nose)", r"(?:site|website|app|checkout|login) (?:is |has been |was )?down",
            r"down for (?:\d+|hours|everyone)", r"outage", r"checkout failing", r"failing for everyone",
            r"redirects", r"boycott\w*", r"lawsuit", r"class action", r"emergency", r"safety", r"hazard\w*",
            r"fraud\w*", r"unauthori[sz]ed", r"charges i never made", r"heads up", r"toxic",
            r"contaminat\w*", r"evacuat\w*", r"wildfire", r"bushfire", r"flood\w*", r"earthquake",
            r"shooting", r"killed", r"dead", r"deaths?", r"victims?", r"storm", r"typhoon", r"tornado",
            r"hurricane", r"tsunami", r"is it true", r"rumou?r\w*", r"known issue", r"seriously hurt",
            # es, fr, de, pt, it, nl
            r"retirada", r"fuga", r"peligro\w*", r"quemadura\w*", r"hackead[oa]", r"cuidado", r"herid[oa]s?",
            r"incendio", r"explosi[oó]n", r"terremoto", r"sismo", r"inundaci[oó]n\w*", r"evacua\w*",
            r"rappel", r"fuite", r"dangereu\w*", r"pirat[ée]", r"bless[ée]s?", r"incendie", r"inondation\w*",
            r"r[üu]ckruf\w*", r"achtung", r"gef[äa]hrlich", r"gefahr", r"gebrochen", r"verletzt",
            r"gehackt", r"datenleck", r"[üu]berschwemmung", r"vazamento", r"perigos[oa]", r"perigo",
            r"ferid[oa]s?", r"inc[êe]ndio", r"explos[ãa]o", r"enchente", r"richiamo", r"pericolos[oa]",
            r"pericolo", r"ferit[oa]", r"esplosione", r"alluvione", r"allerta", r"terugroepactie",
            r"gevaarlijk", r"gevaar", r"gewond", r"explosie", r"overstroming",
        ),
        normal=(
            r"leak\w*", r"charges", r"kid", r"child", r"scared", r"warning", r"urgent", r"photos",
            r"anyone else", r"weird", r"sick", r"hot", r"smoke", r"gas", r"crisis", r"everyone",
            r"affected", r"verify your account", r"police", r"lluvia", r"alerta", r"attention",
        ),
        hints=(r"⚠️?", r"!!+", r"explain", r"respond"),
    ),
    "advocacy": Lexicon(
        strong=(
            # en
            r"donat\w*", r"volunteer\w*", r"petition", r"signed the", r"fundrais\w*", r"matching (?:gifts?|"
            r"donations?|form)", r"match(?:es)? donations", r"campaign", r"cause", r"public lands?",
            r"trail work", r"conservation", r"climate", r"sustainab\w*", r"greenwash\w*", r"politics",
            r"political", r"lobby\w*", r"activis\w*", r"pledge", r"fund", r"proud to (?:support|wear|be)",
            r"get involved", r"stand with", r"pr stunt", r"virtue signal\w*", r"woke", r"stick to selling",
            r"nobody asked", r"non-?profit", r"charity", r"raised \S+", r"raise money", r"leave no trace",
            r"protect (?:our|the|public)", r"trail crew", r"money where its mouth is",
            r"(?:1|one)% for", r"publish the numbers",
            # es, fr, de, pt, it, nl
            r"donar", r"donaci[oó]n\w*", r"voluntari\w*", r"causa", r"campa[ñn]a", r"petici[oó]n",
            r"medio ambiente", r"b[ée]n[ée]vol\w*", r"p[ée]tition", r"campagne", r"politique",
            r"environnement", r"spende\w*", r"ehrenamt\w*", r"freiwillig\w*", r"kampagne", r"politik",
            r"umwelt", r"doa[çc][ãa]o", r"doar", r"campanha", r"peti[çc][ãa]o", r"meio ambiente",
            r"donazion\w*", r"donare", r"campagna", r"petizione", r"ambiente", r"donatie", r"doneren",
            r"petitie", r"politiek", r"milieu",
        ),
        normal=(
            r"support", r"supporters?", r"community", r"trails", r"planet", r"environment\w*", r"members?hip",
            r"unfollow\w*", r"lectures?", r"marketing", r"money", r"gifts?", r"employer", r"crew", r"troop",
            r"participer", r"participar",
        ),
        hints=(r"#\w+", r"proud", r"glad"),
    ),
    "spam": Lexicon(
        strong=(
            # en
            r"turn \S+ into", r"\$[a-z]{3,}", r"crypto\w*", r"bitcoin", r"btc", r"eth", r"usdt",
            r"airdrop\w*", r"presale", r"to the moon", r"wallet", r"giveaway",
            r"claim (?:yours|your|now|here|it)",
            r"free (?:followers|likes|iphone|gift|money|packs?)", r"(?:real )?followers for",
            r"buy \S+ (?:real )?"
            r"followers", r"\d+k? (?:real )?followers", r"likes for", r"grow (?:your )?accounts?",
            r"engagement", r"dm (?:me )?(?:for|now)", r"check my (?:profile|bio|page)",
            r"link in (?:my )?bio",
            r"whatsapp", r"telegram", r"serious (?:friendship|relationship)", r"hello dear", r"make money",
            r"earn \S+", r"passive income", r"work from home", r"forex", r"trading", r"profit\w*",
            r"copyright violation", r"(?:account|page) (?:has been |was )?(?:flagged|suspended|disabled)",
            r"appeal within", r"congratulations", r"(?:you have|you've) been selected", r"verify your wallet",
            r"connect (?:your )?wallet", r"logo for you", r"portfolio", r"cheap rates", r"fast results",
            r"organically", r"💰", r"📈", r"🚀", r"last chance", r"dm for promo",
            # es, fr, de, pt, it, nl
            r"gana dinero", r"dinero f[áa]cil", r"desde casa", r"sorteo", r"gagner de l'argent",
            r"geld verdienen", r"gewinnspiel", r"ganhe dinheiro", r"renda extra", r"sorteio", r"guadagna\w*",
            r"soldi facili", r"winactie",
        ),
        normal=(
            r"https?://\S+", r"free", r"gratis", r"gratuit", r"kostenlos", r"gr[áa]tis", r"promo", r"cheap",
            r"\$\d[\d,.]*", r"money", r"invest\w*", r"income", r"coins?", r"token", r"bonus", r"winner",
            r"click", r"limited", r"offer", r"dm me", r"info(?:rmación|rmation)? aqu[ií]", r"48h",
            r"24 hours",
        ),
        hints=(r">>+", r"<<+", r"→"),
    ),
    "other": Lexicon(),
}

# How customers and the public actually write, beyond any one brand's vocabulary: the way people ask for
# help ("what do i do", "anyone know how"), vent ("so done with", "🙄", "j'en ai marre"), thank, ask before
# buying and raise alarms, in all seven languages. Kept apart so the two layers can be read (and measured)
# separately: ``BASE_LEXICONS`` is the first layer alone.
EVERYDAY: dict[str, Lexicon] = {
    "support_question": Lexicon(
        strong=(
            # en
            r"what (?:do|should|can) i do", r"what does (?:this|that|it) mean", r"who (?:do|should|can) i "
            r"(?:contact|talk to|speak to|call|email|ask)",
            r"where (?:do|can) i (?:find|get|send|report|file|"
            r"request|change|see)", r"is it possible to", r"(?:any|anyone|anybody) (?:know|knows) how",
            r"any (?:idea|ideas) (?:when|why|how|what)", r"(?:won't|wont|doesn't|doesnt|isn't|isnt|can't) "
            r"(?:work|turn on|charge|connect|load|open|pair|sync|start|update|let me)", r"stopped working",
            r"keeps (?:crashing|freezing|disconnecting|logging me out|dropping|saying)", r"locked out",
            r"error (?:code|message|\d+)",
            r"(?:change|cancel|update|transfer|pause|freeze|extend|delete|close)"
            r" my (?:\w+ )?(?:order|booking|reservation|subscription|account|plan|address|membership|flight|"
            r"policy|details|card|delivery)", r"(?:can|could) (?:i|we) (?:get|have|use|change|cancel|return|"
            r"pay|bring|add|switch|transfer|book)", r"(?:is|are) there (?:a|any) (?:way|number|form|fix|"
            r"option|setting)", r"how (?:do|does|can) (?:you|one|it)", r"(?:where|when) (?:is|will) my",
            r"(?:didn't|did not|never) (?:get|receive) (?:the|my|a|an)", r"booking ref\w*",
            r"ref(?:erence)? ?"
            r"(?:number|#)", r"(?:still )?(?:hasn't|has not|haven't|have not) (?:been )?(?:updated|arrived|"
            r"shipped|processed|refunded|delivered)",
            # es, fr, de, pt, it, nl
            r"qu[ée] (?:hago|puedo hacer)", r"necesito ayuda", r"(?:alguien|me) (?:me )?puede[ns]? ayudar",
            r"d[oó]nde (?:est[áa]|encuentro|puedo)", r"c[oó]mo (?:activo|cambio|cancelo|hago)", r"se puede",
            r"comment (?:on fait|faire|changer|annuler)", r"besoin d'aide", r"je n'arrive pas",
            r"o[uù] (?:est|trouver)", r"(?:vous )?pouvez-vous", r"est-ce que (?:je|on) peut", r"je dois",
            r"wie (?:\w+ )?ich", r"ich (?:kann|finde) (?:\w+ )?nicht", r"wo (?:finde|ist|kann)",
            r"k[öo]nnen sie", r"brauche hilfe", r"was kann ich tun", r"kann ich",
            r"como (?:fa[çc]o|troco|cancelo)", r"preciso de ajuda", r"voc[êe]s podem",
            r"o que (?:eu )?fa[çc]o",
            r"d[áa] pra", r"cad[êe] (?:o )?meu", r"come si fa", r"ho bisogno di aiuto", r"dov'[èe]",
            r"potete", r"posso", r"cosa posso fare", r"hoe (?:kan|doe|zet|lang)", r"waar (?:is|vind|kan)",
            r"kunnen jullie", r"lukt (?:het )?niet", r"wat (?:moet|kan) ik",
        ),
        normal=(
            r"booking", r"reservation", r"subscription", r"membership", r"app", r"error", r"bug", r"stuck",
            r"reset", r"cancel", r"activate", r"router", r"wifi", r"claim", r"voucher", r"settings",
            r"update", r"firmware", r"charger", r"battery", r"screen", r"manual", r"invoice", r"check-?in",
            r"ticket (?:#|no|nr|number|ref|id|\d+)", r"support ticket",
            r"(?:my|the) ticket (?:is|was|has|got)",
            r"ref", r"pedido", r"cuenta", r"factura", r"commande", r"compte", r"facture", r"konto",
            r"rechnung", r"bestellung", r"conta", r"fatura", r"ordine", r"fattura", r"bestelling",
            r"rekening",
        ),
        hints=(r"any idea", r"anyone", r"pls", r"plz", r"\?\s*$"),
    ),
    "complaint": Lexicon(
        strong=(
            # en
            r"so done with", r"(?:i'm|im|i am) done", r"over it", r"what a joke", r"unbelievable",
            r"shambles", r"disgrace\w*", r"embarrassing", r"(?:never|not) (?:flying|using|ordering|buying|"
            r"shopping|staying|booking) (?:with|from|at) (?:you|them)", r"(?:switching|moving|going) to "
            r"(?:another|a different|\w+ instead)", r"(?:i'm|im) cancell?ing", r"hidden (?:fees|charges)",
            r"price (?:hike|rise|increase)", r"great job", r"thanks a lot", r"cool cool",
            r"make it make sense",
            r"customer (?:service|support) (?:is|was) (?:a joke|useless|awful|terrible|non-?existent)",
            r"(?:no|zero) (?:communication|explanation|apology|info)", r"(?:still|again) (?:broken|nothing|"
            r"not (?:fixed|working|here|resolved|sorted))", r"(?:hours|minutes|weeks|days|months) (?:on hold|"
            r"of waiting|waiting|later)", r"(?:was|got|been) (?:told|promised)", r"(?:want|need) my money "
            r"back", r"money back", r"not what (?:i|we) (?:paid|ordered|asked)", r"lost (?:my|our) (?:bag|"
            r"luggage|parcel|package|order)", r"🙄", r"😡", r"🤬", r"😤", r"🤢", r"wtf", r"smh", r"ugh",
            r"(?:why|how) (?:does|is|do|are) (?:it|this|that|you)", r"dark pattern", r"sort (?:it|this|your)",
            # es, fr, de, pt, it, nl
            r"hart[oa]", r"fatal", r"desastre", r"estafa", r"todav[ií]a no", r"nadie me",
            r"qu[ée] verg[üu]enza",
            r"ras le bol", r"j'en ai marre", r"honteu\w*", r"arnaque", r"toujours rien",
            r"aucune (?:r[ée]ponse|"
            r"info)", r"franchement", r"plus jamais", r"unm[öo]glich", r"[äa]rgerlich", r"abzocke",
            r"immer noch nicht", r"keine (?:antwort|reaktion|entsch[äa]digung)", r"nie wieder",
            r"rid[ií]culo",
            r"palha[çc]ada", r"descaso", r"nunca mais", r"at[ée] agora nada", r"vergognos[oa]", r"assurdo",
            r"ancora niente", r"mai pi[uù]", r"truffa", r"waardeloos", r"nog steeds (?:niks|niets|geen)",
            r"nooit meer", r"oplichting", r"elke (?:ochtend|dag|keer) hetzelfde",
        ),
        normal=(
            r"delay\w*", r"hold", r"cold", r"dirty", r"stain\w*", r"scratch\w*", r"cracked", r"dent\w*",
            r"overcharg\w*", r"charged", r"bill", r"fees?", r"hike", r"excuse\w*", r"apolog\w*", r"chatbot",
            r"bounced", r"rejected", r"refused", r"cancelled", r"canceled", r"rude", r"unhelpful", r"hours",
            r"worse", r"whatever", r"sick of", r"tired of", r"lmao", r"seriously", r"smh",
            r"retraso", r"fr[ií]a?", r"sucia?", r"retard", r"froide?", r"sale", r"versp[äa]tung", r"kalt",
            r"dreckig", r"atraso", r"fria", r"suj[oa]", r"ritardo", r"freddo", r"sporc[oa]", r"vertraging",
            r"koud", r"vies",
        ),
        hints=(r"\.\.\.", r"lol", r"😒", r"🙃"),
    ),
    "praise": Lexicon(
        strong=(
            # en
            r"shout ?out", r"thanks to", r"thank you (?:to|for)", r"cheers (?:to|for)", r"lifesaver",
            r"life saver", r"game ?changer", r"obsessed", r"chef's kiss", r"above and beyond", r"heroe?s?",
            r"props to", r"hats off", r"so (?:good|kind|helpful|nice|easy|fast|quick|lovely)",
            r"(?:the )?best (?:\w+ )?(?:i've|i have|ever)", r"(?:won|win) me over", r"nailed it",
            r"couldn't be happier", r"can't thank you enough", r"no questions asked", r"👏", r"🥰",
            r"🙏", r"😊", r"🥹",
            # es, fr, de, pt, it, nl
            r"mil gracias", r"muchas gracias", r"encantad[oa]", r"una maravilla", r"un crack",
            r"as[ií] da gusto",
            r"merci beaucoup", r"trop bien", r"adorable", r"au top", r"super sympa", r"vielen dank", r"danke "
            r"(?:sch[öo]n|f[üu]r)", r"hammer", r"top service", r"muito obrigad[oa]", r"amei", r"nota 10",
            r"maravilh\w*", r"grazie mille", r"bellissim[oa]", r"stupend[oa]", r"complimenti",
            r"gentilissim\w*", r"dank (?:je|jullie) wel", r"heerlijk", r"echt top",
            r"super(?:snel|vriendelijk)",
        ),
        normal=(
            r"kind", r"patient", r"smooth", r"easy", r"gorgeous", r"lovely", r"superb", r"sorted", r"quickly",
            r"cheers", r"hero", r"genius", r"elite", r"precios[oa]", r"fant[áa]stic[oa]", r"sympa",
            r"hilfsbereit",
            r"freundlich", r"simp[áa]tic[oa]", r"gentil[ei]", r"vriendelijk", r"fijn", r"snel",
        ),
        hints=(r"😋", r"🤩", r"🫶"),
    ),
    "purchase_question": Lexicon(
        strong=(
            # en
            r"sold out",
            r"(?:will|when will|is) (?:it|they|this|the \w+) (?:be )?(?:back|restocked|available)",
            r"(?:do|will) you (?:sell|stock|carry|make|do) ", r"(?:thinking|thought) (?:of|about) (?:buying|"
            r"getting|switching|ordering|upgrading)",
            r"(?:which|what) (?:size|model|version|shade|colour|color|"
            r"frame size) (?:should|would|do)", r"any (?:deals?|offers?|sales?|discounts?|promos?)",
            r"student (?:discount|plan|rate|price)", r"gift (?:set|subscription|box)", r"free delivery on",
            r"about to (?:buy|order)", r"(?:worth|worth it) (?:the extra|it\?)",
            r"how much (?:would|will|is it)",
            r"is there a (?:discount|sale|deal|cheaper)", r"true to size", r"test ride",
            r"try (?:it|them) on",
            r"(?:available|sold|stocked) (?:in|at|outside)", r"come (?:in|with) (?:a|an|the)? ?\w+",
            # es, fr, de, pt, it, nl
            r"cu[áa]nto (?:cuesta|vale|sale)", r"vais a reponer", r"hay descuento", r"en talla",
            r"hac[ée]is env[ií]os", r"combien", r"vous livrez", r"carte cadeau", r"gibt es (?:die|den|das) "
            r"\w+ (?:auch|noch)", r"liefert ihr", r"welche gr[öo][ßs]e", r"tem desconto",
            r"voltar ao estoque",
            r"voc[êe]s entregam", r"tornera disponibile", r"spedite", r"komt (?:de|het) \w+ (?:nog )?terug",
        ),
        normal=(
            r"sale", r"restock", r"refurb\w*", r"bundle", r"trade-?ins?", r"deposit", r"lease", r"leasing",
            r"tariff", r"plan", r"pricing", r"quid", r"£\d+", r"€\d+", r"stock", r"waitlist",
            r"talla", r"reponer", r"estoque", r"taglia", r"maat", r"voorraad",
        ),
        hints=(r"eyeing", r"want one", r"need one"),
    ),
    "event_question": Lexicon(
        strong=(
            # en
            r"gates? open", r"doors", r"set times", r"wristbands?", r"re-?entry", r"early bird", r"campsite",
            r"glamping", r"bag drop", r"race number", r"start line", r"finish line", r"cut-?off time",
            r"pacers?", r"spectators?", r"cfp", r"call for (?:papers|speakers)", r"badge pickup",
            r"(?:will|are) the talks", r"recorded", r"showcase", r"premiere", r"masterclass", r"cupping",
            r"test drive day", r"group ride", r"meet and greet", r"open day", r"launch event",
            # es, fr, de, pt, it, nl
            r"a qu[ée] hora (?:abren|empieza)", r"las puertas", r"dorsal", r"acampada", r"charlas",
            r"[àa] quelle heure", r"dossards?", r"les portes", r"conf[ée]rences?", r"einlass",
            r"tageskarten?", r"startnummer", r"gel[äa]nde", r"ingressos?", r"que horas", r"largada",
            r"palestras", r"port[õo]es", r"a che ora", r"cancelli", r"pettorale", r"hoe laat",
            r"deuren", r"garderobe",
        ),
        normal=(
            r"gates", r"stage", r"headliner", r"clashes", r"camp", r"marathon", r"runners?", r"spinathon",
            r"workshop", r"conf", r"talk", r"tournament", r"stream", r"streamed", r"recording", r"lanyard",
            r"festival", r"fest", r"concert", r"gig", r"show", r"ticket",
        ),
        hints=(r"this year", r"next year"),
    ),
    "press_question": Lexicon(
        strong=(
            # en
            r"(?:i'm|im|i am) (?:a|an) (?:\w+ )?(?:journalist|reporter|writer|editor|producer|correspondent|"
            r"researcher)", r"(?:journalist|reporter|editor|producer|writer|correspondent|critic) (?:here|at|"
            r"with|for)", r"writing (?:a|an) (?:\w+ )?(?:piece|story|article|feature|report|comparison)",
            r"(?:could|can|would) (?:i|we) (?:interview|quote|speak to)", r"comms team", r"pr team",
            r"who handles (?:media|press)", r"(?:our|my) (?:readers|listeners|viewers|audience)",
            r"review (?:code|unit|sample)", r"screeners?", r"media drive", r"live blog", r"business desk",
            r"we publish", r"for (?:our|my|a) (?:show|podcast|newsletter|documentary|programme|blog)",
            # es, fr, de, pt, it, nl
            r"soy periodista", r"escribo para", r"contacto de prensa", r"je suis journaliste",
            r"service de presse", r"je pr[ée]pare un article", r"redaktion", r"presseanfrage\w*",
            r"journalistin", r"ich schreibe f[üu]r", r"sou jornalista", r"assessoria de imprensa",
            r"mat[ée]ria sobre", r"sono (?:un[ao]? )?giornalista", r"scrivo per", r"rilasciare",
            r"ik ben journalist", r"woordvoerder", r"reageren op",
        ),
        normal=(
            r"journalist", r"reporter", r"editor", r"producer", r"researcher", r"documentary", r"review",
            r"readers", r"listeners", r"publish\w*", r"revista", r"revue", r"magazin", r"rivista", r"krant",
            r"zeitung", r"jornal", r"giornale", r"diario", r"journal",
        ),
    ),
    "crisis_signal": Lexicon(
        strong=(
            # en
            r"smok(?:e|ing|ed)", r"bursting into flames", r"flames", r"fire alarm", r"fire brigade",
            r"caught fire", r"chemical burns?", r"blister\w*", r"a&e", r"ambulance", r"allergic reaction",
            r"(?:severe|serious) allergy", r"food poisoning", r"choking", r"swallow\w*", r"glass in",
            r"(?:is|are|was) (?:it|the \w+|\w+) down for (?:everyone|anyone)", r"down for everyone",
            r"for everyone\?", r"(?:anyone|everyone) else", r"(?:security|data) incident",
            r"(?:other|another) (?:people's|customers'|company's|passengers') (?:\w+ )?(?:data|details|"
            r"boards|bookings|documents|prescriptions|addresses|orders)", r"going viral", r"viral",
            r"trending", r"(?:this|it) is blowing up", r"derail\w*", r"crash(?:ed)? into", r"evacuated",
            r"(?:weird|dodgy|fake|suspicious) (?:link|text|email|sms)", r"asking (?:me )?(?:for|to confirm) "
            r"(?:my )?(?:pin|password|card details)", r"terrif\w*", r"could(?:'ve| have) (?:burned|killed|"
            r"died)", r"gas smell", r"smell of gas", r"bulg\w*", r"swell\w*", r"🔥📱",
            # es, fr, de, pt, it, nl
            r"se incendi[óo]", r"fuego", r"humo", r"intoxicaci[oó]n", r"filtraci[oó]n", r"hackeo",
            r"para nadie", r"pris feu", r"fum[ée]e", r"br[ûu]lures?", r"intoxication", r"piratage",
            r"panne g[ée]n[ée]rale", r"fuite de donn[ée]es", r"qualm\w*", r"geschmolzen", r"verbrennung\w*",
            r"vergiftung", r"f[üu]r alle (?:down|weg)", r"pegou fogo", r"fuma[çc]a", r"queimadura\w*",
            r"intoxica[çc][ãa]o", r"vazamento de dados", r"para todo mundo", r"preso fuoco", r"fumo",
            r"ustion\w*", r"intossicazione", r"fuga di dati", r"per nessuno", r"vatte vlam", r"rook",
            r"brandwond\w*", r"voedselvergiftiging", r"datalek", r"levensgevaarlijk", r"storing bij iedereen",
        ),
        normal=(
            r"fire", r"burn\w*", r"sirens?", r"police", r"allergy", r"allergic", r"peanuts?", r"magnets?",
            r"toddler", r"baby", r"viral", r"screenshots?", r"addresses", r"passwords", r"database",
            r"outage", r"down", r"everyone", r"whole of", r"loads of us", r"scam",
        ),
    ),
    "advocacy": Lexicon(
        strong=(
            # en
            r"fair ?trade", r"living wage", r"workers'? rights", r"garment workers", r"animal testing",
            r"cruelty[ -]free", r"deforestation", r"palm oil", r"fossil fuels?", r"divest\w*", r"emissions",
            r"carbon (?:neutral|offset\w*|footprint)", r"recycl\w*", r"plastic", r"right to repair",
            r"food ?banks?", r"refugees?", r"period poverty", r"(?:keep|stick to) (?:politics|\w+ing) out",
            r"keep politics out", r"go woke", r"woke nonsense", r"stick to (?:coffee|\w+)", r"pride month",
            r"lgbtq\+?", r"union", r"strike", r"sick pay", r"clean air", r"sugar tax", r"beach clean",
            r"community (?:garden|solar|project)", r"initiative", r"hypocri\w*", r"pr stunt",
            r"sign(?:ed)? (?:the|our|a) (?:petition|pledge|letter)",
            # es, fr, de, pt, it, nl
            r"comercio justo", r"salarios? justos?", r"banco de alimentos", r"firm[ée] la petici[oó]n",
            r"commerce [ée]quitable", r"greenwashing", r"fairer handel", r"lobbyarbeit", r"klimaschutz",
            r"nachhaltig\w*", r"tafel", r"sal[áa]rios dignos", r"sustent[áa]ve\w*", r"pl[áa]stico",
            r"povert[àa] mestruale", r"sostenibil\w*", r"volontari\w*", r"duurzaa?m\w*", r"klimaat",
            r"vrijwilliger\w*", r"voedselbank", r"fietspaden",
        ),
        normal=(
            r"workers", r"wages?", r"factory", r"factories", r"ethical", r"green", r"eco", r"forests?",
            r"ocean",
            r"planet", r"policy", r"commit\w*", r"promise[ds]?", r"publish", r"councils?", r"vote", r"stance",
        ),
    ),
    "spam": Lexicon(
        strong=(
            # en
            r"guaranteed (?:returns|results|blue tick)", r"sugar daddy", r"iptv", r"backlinks",
            r"guest posts",
            r"seo", r"(?:real|instant) followers", r"followers in", r"verify your (?:identity|account|"
            r"details)", r"(?:will be|has been) suspended", r"click (?:here|the link)", r"100x",
            r"win (?:a|an)"
            r" (?:free|£|\$|€)", r"essay writing", r"v-?bucks", r"no (?:experience|human verification) "
            r"(?:needed|required)?", r"weird tea", r"lose \d+ ?kg",
            r"signals group", r"win rate", r"digital agency", r"free audit", r"collab\?", r"ask me how",
            r"message me (?:on|for)", r"pinned post", r"% win rate", r"a day from home", r"al d[ií]a desde",
            r"per day", r"/day",
            # es, fr, de, pt, it, nl
            r"sin experiencia", r"pinchar aqu[ií]", r"info en mi perfil", r"contactez-moi", r"boostez",
            r"abonn[ée]s", r"von zu hause", r"schreib mir", r"jetzt daten", r"lucro garantido",
            r"chama no direct", r"link na bio", r"scrivimi", r"clicca qui", r"senza abbonamento",
            r"verdien (?:snel )?geld", r"klik op de link", r"stuur me een dm",
        ),
        normal=(
            r"followers", r"likes", r"views", r"verified", r"verify", r"guaranteed", r"investors?",
            r"returns",
            r"agency", r"manufacturer", r"wholesale price", r"win", r"gewinn\w*", r"ganhe", r"gana",
            r"verdien\w*", r"guadagn\w*", r"gagne\w*", r"trading", r"bot",
        ),
    ),
}


def _merged(base: dict[str, Lexicon], extra: dict[str, Lexicon]) -> dict[str, Lexicon]:
    merged = {}
    for intent in INTENTS:
        first, second = base.get(intent, Lexicon()), extra.get(intent, Lexicon())
        merged[intent] = Lexicon(
            strong=tuple(dict.fromkeys(first.strong + second.strong)),
            normal=tuple(dict.fromkeys(first.normal + second.normal)),
            hints=tuple(dict.fromkeys(first.hints + second.hints)),
        )
    return merged


BASE_LEXICONS = LEXICONS
LEXICONS = _merged(BASE_LEXICONS, EVERYDAY)
# fmt: on


_SPECIAL = frozenset("\\.^$*+?{}[]|() ")
_QUANTIFIERS = frozenset("?*+{")


def _first_literal(fragment: str) -> tuple[str, str] | None:
    """The literal character ``fragment`` starts with and the rest, or None when it starts otherwise."""
    if len(fragment) >= 2 and fragment[0] == "\\" and not fragment[1].isalnum():
        char, rest = fragment[1], fragment[2:]  # an escaped punctuation mark: "\\?", "\\$"
    elif fragment and fragment[0] not in _SPECIAL:
        char, rest = fragment[0], fragment[1:]
    else:
        return None
    return None if rest[:1] in _QUANTIFIERS else (char, rest)


def _closing(fragment: str, start: int, opening: str, closing: str) -> int:
    """The index of the bracket that closes the one at ``start``."""
    depth = 0
    for index in range(start, len(fragment)):
        if fragment[index] == "\\":
            continue
        if fragment[index] == opening and (index == 0 or fragment[index - 1] != "\\"):
            depth += 1
        elif fragment[index] == closing and fragment[index - 1] != "\\":
            depth -= 1
            if depth == 0:
                return index
    raise ValueError(f"unbalanced {opening} in pattern {fragment!r}")


def _top_level_split(alternation: str) -> list[str]:
    parts, depth, current = [], 0, []
    for index, char in enumerate(alternation):
        escaped = index > 0 and alternation[index - 1] == "\\"
        if char == "(" and not escaped:
            depth += 1
        elif char == ")" and not escaped:
            depth -= 1
        if char == "|" and depth == 0 and not escaped:
            parts.append("".join(current))
            current = []
        else:
            current.append(char)
    parts.append("".join(current))
    return parts


def _expanded(fragment: str) -> list[str]:
    """``fragment`` rewritten, where it starts with a group or a character class, as the fragments it
    stands for ("(?:a|b)c" as "ac" and "bc", "(?:x )?y" as "x y" and "y", "[oó]x" as "ox" and "óx"), so that
    each starts with a literal and can join the trie."""
    if fragment.startswith("(?:"):
        end = _closing(fragment, 0, "(", ")")
        optional = fragment[end + 1 : end + 2] == "?"
        rest = fragment[end + 2 :] if optional else fragment[end + 1 :]
        choices = _top_level_split(fragment[3:end]) + ([""] if optional else [])
        return [expanded for choice in choices for expanded in _expanded(choice + rest)]
    if fragment.startswith("[") and fragment[1:2] != "^":
        end = fragment.index("]")
        members = fragment[1:end]
        if "\\" not in members and "-" not in members and fragment[end + 1 : end + 2] not in _QUANTIFIERS:
            return [expanded for member in members for expanded in _expanded(member + fragment[end + 1 :])]
    return [fragment]


def _alternation(fragments: Sequence[str]) -> str:
    """One alternation of ``fragments``, factored on their literal prefixes like a trie.

    Python's regex engine tries a branch that starts with a literal only when the next character is that
    literal, so "a(?:bc|bd)|x(?:...)" costs a few character checks per position where "abc|abd|x..." would
    try every fragment: it makes the scan several times faster. Where several fragments match at the same
    place, a longer literal path is tried first, then the longer remainder.
    """
    children: dict[str, list[str]] = {}
    leaves: list[str] = []
    for candidate in dict.fromkeys(expanded for fragment in fragments for expanded in _expanded(fragment)):
        first = _first_literal(candidate)
        if first is None:
            leaves.append(candidate)
        else:
            children.setdefault(first[0], []).append(first[1])
    branches = [
        re.escape(char) + (_group(_alternation(rests)) if rests != [""] else "")
        for char, rests in sorted(children.items())
    ]
    rest = sorted((leaf for leaf in leaves if leaf), key=len, reverse=True)
    alternatives = branches + [leaf.replace(" ", r"\s+") for leaf in rest]
    if "" in leaves:  # a fragment that ends here comes after the longer ones sharing its path
        alternatives.append("")
    return "|".join(alternatives)


def _group(alternation: str) -> str:
    return f"(?:{alternation})" if "|" in alternation else alternation


_STRENGTHS: tuple[tuple[str, float], ...] = (("strong", STRONG), ("normal", NORMAL), ("hints", HINT))


@dataclass(frozen=True, slots=True)
class _Matcher:
    """One intent's patterns of one strength, anchored where a scan found a term."""

    intent: int  # index in INTENTS
    weight: float
    regex: re.Pattern[str]


def compile_lexicons(lexicons: dict[str, Lexicon]) -> tuple[re.Pattern[str], tuple[_Matcher, ...]]:
    """The scan expression (every pattern of every intent in one trie) and each intent's matchers.

    A post is scanned once: at each word start where some pattern matches, the scan captures the longest
    term it can (in a look-ahead, so a term inside another is still found). Which intents that term counts
    for is a property of the lexicons, not of the post: see :func:`_attribution`.
    """
    every: list[str] = []
    matchers: list[_Matcher] = []
    for index, intent in enumerate(INTENTS):
        lexicon = lexicons.get(intent, Lexicon())
        for name, weight in _STRENGTHS:
            fragments = getattr(lexicon, name)
            if fragments:
                every.extend(fragments)
                regex = re.compile(rf"(?:{_alternation(fragments)})(?!\w)")
                matchers.append(_Matcher(intent=index, weight=weight, regex=regex))
    # Look-arounds instead of \b: they also hold where a pattern starts or ends in "?", "$" or an emoji.
    return re.compile(rf"(?<!\w)(?=({_alternation(every)})(?!\w))"), tuple(matchers)


_SCAN, _MATCHERS = compile_lexicons(LEXICONS)


@lru_cache(maxsize=16_384)
def _attribution(term: str) -> tuple[tuple[int, float, str, int], ...]:
    """For a term the scan found: each intent it counts for, the weight, the words and their length.

    Each intent takes its strongest pattern that matches at the start of the term; a shorter one is fine
    ("thank you" inside "thank you so much" is a support hint). Cached by term because the same few hundred
    terms recur in every stream of posts; the cache holds lexicon facts, never anything about a post.
    """
    found: list[tuple[int, float, str, int]] = []
    taken: set[int] = set()
    for matcher in _MATCHERS:
        if matcher.intent in taken:
            continue
        match = matcher.regex.match(term)
        if match is not None:
            taken.add(matcher.intent)
            found.append((matcher.intent, matcher.weight, " ".join(match.group().split()), match.end()))
    return tuple(found)


def intent_hits(text_lower: str) -> list[list[tuple[str, float]]]:
    """For each intent (in ``INTENTS`` order), the distinct terms found in ``text_lower`` with their weights,
    in the order they appear. Within one intent, a term inside an earlier hit ("so much" in "thank you so
    much") is not counted again."""
    found: list[list[tuple[str, float]]] = [[] for _ in INTENTS]
    ends = [0] * len(INTENTS)
    seen: set[tuple[int, str]] = set()
    for match in _SCAN.finditer(text_lower):
        start = match.start()
        for intent, weight, term, length in _attribution(match.group(1)):
            if start < ends[intent]:
                continue
            ends[intent] = start + length
            if (intent, term) not in seen:
                seen.add((intent, term))
                found[intent].append((term, weight))
    return found
