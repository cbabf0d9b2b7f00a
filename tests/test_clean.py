"""The text-stage cleaner: the seeds, junk kinds on unseen text, and properties on real articles."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from scraper import clean
from scraper.article import line_key
from scraper.clean import Cleaner

from .conftest import seed_pairs

ARTICLE = """Vietnam and the EU pledged to deepen economic and security cooperation on Thursday, upgrading ties.
The two sides agreed to deepen cooperation on trade, technology, energy and security, according to a joint statement.
Beyond the US and China
Vietnam has emerged as a regional economic bright spot, clocking eight per cent growth last year despite tariffs.
Faced with deepening trade uncertainty, Vietnam is on the hunt for new markets beyond the United States and China.
Upgrading ties with the EU is part of Hanoi's effort to diversify its export market, said a Vietnam expert.
Hanoi also has comprehensive strategic partnerships with China, Russia and the United States."""


@pytest.mark.parametrize("raw, expected", seed_pairs(), ids=lambda p: p.name)
def test_seeds_clean_to_expected(raw, expected):
    assert clean(raw.read_text(encoding="utf-8")).text + "\n" == expected.read_text(encoding="utf-8")


def test_seeds_exist():
    assert len(seed_pairs()) == 3, "the shared seeds are missing"


def test_subheadings_stay():
    assert clean(ARTICLE).text == ARTICLE


@pytest.mark.parametrize(
    "junk, rule",
    [
        ("Follow us on Telegram for the latest updates!", "prompt.follow"),
        ("Get our morning briefing delivered to your inbox.", "prompt.newsletter"),
        ("Download the Daily News app from Google Play and the App Store", "prompt.app"),
        ("Be the first to comment", "prompt.comments"),
        ("Was this article helpful?", "prompt.feedback"),
        ("Share this article", "prompt.share"),
        ("Subscribe now for only $1 a week for digital access", "prompt.paywall"),
        ("Copyright © 2025 Example Media Group. All rights reserved.", "furniture.copyright"),
        ("Advertisement", "furniture.advertisement"),
        ("Photo: AFP", "furniture.caption"),
        ("— Picture by John Doe", "furniture.caption"),
        ("Read more: Floods hit the north as rivers burst their banks", "furniture.read-more"),
        ("By signing up, you agree to our Terms of Use and Privacy Policy.", "prompt.newsletter"),
        ("You've read 3 of 5 free articles this month.", "prompt.paywall"),
        ("We use cookies to improve your experience on our site.", "prompt.cookies"),
        ("A worker at the port of Haiphong, Vietnam, May 1, 2025. REUTERS/Thinh Nguyen/File Photo", "furniture.caption"),
        ("Shoppers in central Hanoi on Saturday. (AP Photo/Hau Dinh)", "furniture.caption"),
        ("(Reporting by Francesco Guarascio in Hanoi; Editing by Ed Davies)", "furniture.credit"),
        ("Tempo de leitura: 2 minutos", "furniture.reading-time"),
        ("Diperbarui 2 jam lalu", "furniture.timestamp"),
        ("Publié le 12 mars 2025 à 14h05", "furniture.timestamp"),
        ("Mehr zum Thema", "stop-heading"),
        ("Baca juga", "stop-heading"),
    ],
)
def test_generic_junk_kinds(junk, rule):
    result = clean(ARTICLE + "\n" + junk)
    assert result.text == ARTICLE
    assert [r.rule for r in result.removed] == [rule]


@pytest.mark.parametrize("line", [
    "To publish an app you need a developer account for the App Store and a separate one for Google Play, and each "
    "store reviews every update before it reaches users.",
    "If you haven't tried the new maps yet, you can get the app today from your phone's store or watch the video.",
    "I also identified 28 newsletters, a small subset of the newsletters I subscribe to, as the test set for the "
    "classifier, and read every issue they sent over the following month to label it by hand, one topic at a time.",
    "We invite you to try the beta, let us know what you think, and tell your friends about the new ferry timetable.",
])
def test_prose_that_names_what_prompts_name_is_kept(line):
    # A prompt is a short line; a sentence in a paragraph may mention app stores, newsletters or feedback.
    text = ARTICLE + "\n" + line
    assert clean(text).text == text


def test_stop_heading_cuts_unrelated_list_but_keeps_relevant_text():
    headlines = "\n".join([
        "Floods force thousands from homes in Kelantan",
        "Police seize drugs worth millions at northern border",
        "Football: Local side crash out of regional cup",
    ])
    result = clean(f"{ARTICLE}\nYou May Also Like\n{headlines}")
    assert result.text == ARTICLE
    assert {r.rule for r in result.removed} == {"stop-heading", "stop-heading.list"}
    # A stop heading followed by more of the article is not a cut.
    text = f"{ARTICLE}\nMore on this story\nVietnam and the EU pledged deeper security cooperation with Hanoi and Vietnam's trade partners."
    assert clean(text).text == text


@pytest.mark.parametrize("tag_lines", ["Vietnam , EU , Hanoi , trade", "Tags: Vietnam, EU, Hanoi, trade", "Topics\nVietnam, EU, Hanoi, trade"])
def test_tag_line_moves_to_tags(tag_lines):
    result = clean(ARTICLE + "\n" + tag_lines)
    assert result.text == ARTICLE
    assert result.tags == ["Vietnam", "EU", "Hanoi", "trade"]


def test_split_promo_in_mid_article():
    lines = ARTICLE.splitlines()
    text = "\n".join(lines[:2] + ["Stay ahead on Asia", "with our weekly briefing", "Sign up now, it's free."] + lines[2:])
    assert clean(text).text == ARTICLE


def test_title_is_not_repeated():
    result = clean("EU and Vietnam upgrade ties\n" + ARTICLE, title="EU and Vietnam upgrade ties")
    assert result.text == ARTICLE


def test_learned_site_lines_are_removed():
    boiler = "Reporting by the Example desk, editing by someone"
    result = Cleaner(repeated={line_key(boiler)}).clean(ARTICLE + "\n" + boiler)
    assert result.text == ARTICLE
    assert result.removed[0].rule == "site-repeated"


# --- junk on sites we have never seen ----------------------------------------------------------
# Invented but realistic pages: lines marked "~ " are junk the generic rules must remove; every
# other line, in-article subheadings included, must stay.

UNSEEN_PAGES = {
    "en-related-list-and-prompts": """
~ Photo: AFP
Lithium prices rebounded this week as battery makers in China restocked ahead of the new year, traders said.
The benchmark carbonate contract rose 6 per cent on Tuesday, its biggest daily gain since March, after two producers cut output.
~ Sign up for our Markets Daily newsletter
~ and get the day's top stories every morning.
Why supply is tightening
Several smaller mines in Australia have been placed on care and maintenance because current prices do not cover their costs.
Analysts at two banks said the cuts could remove up to 8 per cent of global lithium supply next year if prices stay low.
~ FILE PHOTO: A worker walks past lithium evaporation ponds in the Atacama desert - Bloomberg
Battery makers return
Chinese battery makers, which had run down their lithium stocks, started buying again this month, according to three traders.
"The restocking is real, but it is not yet a recovery," said one trader in Shanghai who asked not to be named.
~ What do you think? Let us know in the comments below.
~ Share on Facebook Share on X Share via Email
~ Related Articles
~ Lithium miners cut jobs as prices slump to four-year low
~ China battery makers expand in Europe despite lithium glut
~ Copyright © 2025 Example Media Ltd. All rights reserved.
""",
    "en-teaser-most-read-and-paywall": """
~ Heatwave grips southern Europe as temperatures pass 44C
~ Firefighters battled blazes across Greece and Spain on Sunday as a heatwave that has already...
The city council approved a plan on Monday to turn the disused railway yard into a park with 2,000 new trees.
Councillors voted 31 to 9 for the plan after a debate that lasted more than six hours.
~ Advertisement
What the park will include
The design includes a skate park, community gardens and a pedestrian bridge over the river to the old town.
Work on the railway yard is due to start next spring and the park should open in stages from 2028, the council said.
~ Most Read
~ Man arrested after police chase through city centre
~ Local bakery wins national award for sourdough
~ Weather warning issued for heavy rain on Friday
~ Subscribe today for just $1 a week. Cancel anytime.
""",
    "de-lesen-sie-auch-and-follow": """
Die Bundesregierung will den Ausbau der Stromnetze beschleunigen und dafür die Genehmigungsverfahren deutlich verkürzen.
Nach den Plänen sollen neue Leitungen künftig in der Hälfte der bisherigen Zeit genehmigt werden können.
~ Foto: dpa
Was sich für Netzbetreiber ändert
Netzbetreiber sollen Trassen schneller planen dürfen, wenn bestehende Leitungen auf denselben Masten erneuert werden.
Kritik kommt von Umweltverbänden, die eine schwächere Beteiligung der Öffentlichkeit bei den Verfahren befürchten.
~ Folgen Sie uns auf WhatsApp und Google News
~ Lesen Sie auch
~ Streit um Heizungsgesetz geht in die nächste Runde
~ Bahn kündigt neue Verbindungen nach Polen an
""",
    "fr-a-lire-aussi-and-newsletter": """
Le gouvernement a présenté mercredi un projet de loi pour encadrer la location de trottinettes électriques en ville.
Le texte prévoit une limitation de vitesse à 20 km/h et l'obligation de stationner sur des emplacements réservés.
Ce que prévoit le texte
Les opérateurs devront partager leurs données de trajets avec les mairies, qui pourront fixer un nombre maximal d'engins.
Les associations d'usagers saluent un cadre plus clair mais craignent une hausse des tarifs pour les utilisateurs.
~ Abonnez-vous à notre newsletter pour recevoir l'essentiel de l'actualité chaque matin.
~ Suivez-nous sur Facebook, Instagram et WhatsApp
~ À lire aussi
~ Grève dans les transports : les prévisions pour jeudi
~ Paris : un nouveau pont ouvre aux piétons
""",
    "es-noticias-relacionadas-and-app": """
~ Publicidad
El Gobierno aprobó este martes una rebaja del precio del transporte público para los menores de 26 años durante todo el año.
La medida costará unos 300 millones de euros y beneficiará a más de cuatro millones de jóvenes, según el ministerio.
Lo que cambia para los usuarios
Los abonos mensuales de cercanías y autobuses interurbanos costarán la mitad a partir del próximo mes de enero.
Las comunidades autónomas podrán sumar descuentos propios a la rebaja estatal si lo desean, explicó la ministra.
~ Descarga la app de Noticias Hoy en Google Play y App Store
~ Síguenos en Google News y en nuestro canal de WhatsApp
~ Noticias relacionadas
~ La inflación se modera en octubre por la bajada de la luz
~ El precio de la vivienda sube un 8% en las grandes ciudades
""",
    "pt-leia-tambem-and-comments": """
O Banco Central manteve nesta quarta-feira a taxa básica de juros em 10,5% ao ano, como esperava a maioria dos analistas.
A decisão foi unânime e o comitê indicou que deve manter a taxa nesse nível enquanto a inflação não ceder.
~ Foto: Reprodução/Agência Brasil
O que dizem os analistas
Economistas avaliam que os juros devem continuar altos até o fim do ano por causa da incerteza fiscal.
A inflação acumulada em doze meses está acima do teto da meta pelo terceiro mês seguido, segundo o IBGE.
~ Deixe seu comentário
~ Leia também
~ Dólar fecha em alta com cenário externo
~ Petrobras anuncia redução no preço do diesel
""",
    "id-baca-juga-and-channel": """
Pemerintah akan membangun 3 juta rumah murah per tahun mulai tahun depan untuk mengatasi kekurangan hunian.
Program itu akan dibiayai bersama oleh pemerintah pusat, pemerintah daerah dan pengembang swasta, kata menteri.
~ Baca juga: Harga beras naik di sejumlah pasar tradisional
Skema pembiayaan rumah
Pembeli rumah pertama akan mendapat subsidi bunga dan uang muka yang lebih rendah melalui bank pemerintah.
Asosiasi pengembang menyambut baik rencana itu namun meminta kepastian soal perizinan lahan di daerah.
~ Ikuti kami di WhatsApp Channel untuk berita terbaru
~ Berita Terkait
~ Jokowi resmikan jalan tol baru di Sumatera
~ Gempa magnitudo 5,2 guncang Maluku
""",
    "en-trending-recommended-captions": """
~ Image source, Getty Images
Shares in the world's biggest contract chipmaker rose 4 per cent on Thursday after it raised its sales forecast for the year.
The company said demand for chips used in artificial intelligence servers was stronger than it had expected in July.
~ Updated 3 hours ago
Critical minerals, semiconductors
Securing supply chains: Critical minerals and the semiconductor push
Executives said the chipmaker would spend more on new plants in Japan and Arizona to secure supplies for its customers.
Analysts said the forecast suggested the slowdown in smartphone chips had bottomed out after two weak quarters.
~ (Photo by Annabelle Chih/Getty Images)
~ Tags: semiconductors, Taiwan, artificial intelligence
~ Trending
~ Stocks slip as investors await jobs data
~ 5 hours ago
~ Oil prices steady after surprise stock draw
~ 6 hours ago
~ Recommended for you
~ How to pick a savings account in 2025
""",
    "ms-berita-berkaitan-and-picture-credit": """
Kerajaan akan memperkenalkan kad diskaun pengangkutan awam untuk pelajar universiti mulai Januari depan.
Menteri Pengangkutan berkata kad itu memberi potongan 50 peratus bagi perjalanan bas dan kereta api di seluruh negara.
~ — Picture by Hari Anggara
Syarat permohonan
Pelajar perlu mendaftar melalui portal universiti masing-masing dan kad akan dihantar dalam tempoh dua minggu.
Persatuan pelajar menyambut baik langkah itu tetapi meminta kad itu turut diberikan kepada pelajar kolej swasta.
~ Ikuti kami di Telegram untuk berita terkini
~ Berita Berkaitan
~ Harga minyak kekal minggu ini
~ 2 jam lalu
~ Banjir di Kelantan: 3,000 mangsa dipindahkan
""",
}


def _page(name: str) -> tuple[str, str]:
    lines = UNSEEN_PAGES[name].strip().splitlines()
    return "\n".join(line.removeprefix("~ ") for line in lines), "\n".join(line for line in lines if not line.startswith("~ "))


@pytest.mark.parametrize("name", UNSEEN_PAGES)
def test_junk_kinds_on_unseen_sites(name):
    raw, article = _page(name)
    result = clean(raw)
    assert result.text == article
    assert all(r.rule and r.reason for r in result.removed)


# --- properties -------------------------------------------------------------------------------

_PARAGRAPH = re.compile(r"\w.{60,}[.!?\"”]$")


def _articles(ground_truth) -> list[list[str]]:
    """Junk-free articles: the prose paragraphs of each ground-truth article body."""
    articles = []
    for item in ground_truth.values():
        paragraphs = [l.strip() for l in item["articleBody"].splitlines() if _PARAGRAPH.match(l.strip())]
        if len(paragraphs) >= 2:
            articles.append(paragraphs)
    return articles


@pytest.fixture(scope="module")
def articles(ground_truth):
    return _articles(ground_truth)


def test_every_ground_truth_article_is_kept_whole(articles):
    for paragraphs in articles:
        text = "\n".join(paragraphs)
        assert clean(text).text == text


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_slices_of_real_articles_are_kept_whole(articles, data):
    paragraphs = data.draw(st.sampled_from(articles))
    start = data.draw(st.integers(0, len(paragraphs) - 1))
    end = data.draw(st.integers(start + 1, len(paragraphs)))
    text = "\n".join(paragraphs[start:end])
    assert clean(text).text == text


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=2000))
def test_never_crashes_never_invents_lines_and_is_idempotent(text):
    result = clean(text)
    source = {" ".join(line.split()) for line in text.splitlines()}
    assert all(line in source for line in result.text.splitlines())
    assert clean(result.text).text == result.text


@settings(max_examples=200, deadline=None)
@given(st.lists(st.sampled_from(ARTICLE.splitlines() + [
    "Others Also Read", "Advertisement", "Follow us on WhatsApp", "Leave the first comment",
    "Government announces new budget for schools", "Markets rally as rates fall",
]), max_size=30))
def test_idempotent_on_mixed_lines(lines):
    once = clean("\n".join(lines)).text
    assert clean(once).text == once


def test_an_opening_that_trails_off_in_an_ellipsis_is_not_a_teaser():
    # A post's own opening lines may end in "..." and share only some words with the rest; only a
    # blurb that shares almost nothing with the article is another story's teaser.
    text = "\n".join([
        "Picnic at the river park",
        "Well, one of us has gotten a year older this week, and we thought a picnic by the river would be fun...",
        "So we packed a basket with sandwiches, lemonade and a cake for the birthday, and drove to the park.",
        "The river was high after the rain, and the ducks came right up to the blanket looking for crumbs.",
        "We stayed until the sun went down, then drove home tired and happy with the empty basket.",
    ])
    assert clean(text).text == text


def test_a_first_paragraph_that_trails_off_with_no_headline_above_is_the_posts_own():
    # A teaser is a blurb under its own headline; a blog's opening line trails off by itself.
    text = "\n".join([
        "A couple of people on Facebook were asking about this and I figured it was easier to post it here. So here we go....",
        "Mix two cups of flour with a spoon of baking powder, a pinch of salt and half a cup of sugar.",
        "Rub in the cold butter until the mixture looks like breadcrumbs, then stir in the milk.",
        "Roll the dough out, cut the scones and bake them for twelve minutes in a hot oven.",
    ])
    assert clean(text).text == text


def test_a_closing_story_told_at_length_is_no_tail_of_other_news():
    # Paragraphs after the article that name new people but keep to their own story (a second
    # witness, a list of sources) are the article's; other news is a run of unrelated stories.
    body = [
        "The city council voted on Tuesday to build a new bridge over the harbour, ending two years of debate.",
        "The bridge will carry two lanes of traffic, a tram line and a wide path for cyclists and walkers.",
        "Councillors said the harbour bridge would cost 240 million euros, shared between the city and the region.",
        "Work on the bridge is due to start next spring and should take three years, the council said.",
        "Ferry operators warned that the harbour would be crowded with barges while the bridge was being built.",
        "The council promised to keep the ferry timetable unchanged during the works on the harbour bridge.",
        "Opponents of the bridge said the money would be better spent on the ferry service and on buses.",
        "Traffic on the old harbour road has doubled in ten years, and the council says the bridge will ease it.",
        "The regional government must still approve its share of the cost before the bridge contract is signed.",
        "Three companies have bid to build the bridge, and the council will choose one of them in the autumn.",
        "The tram line across the bridge will link the harbour district with the railway station.",
        "Shops on the harbour road fear that the works will keep customers away for three years.",
    ]
    witness = [
        "Elsewhere in the hall, Marta Kowalczyk and Tomasz Nowak waited for hours to speak about their bakery.",
        "Kowalczyk said the bakery had served breakfast rolls to dock workers since her grandfather opened it in 1952.",
        "Nowak, her husband, said the bakery would lose its morning customers while Quay Street was closed to cars.",
        "The couple met at the bakery as teenagers, when Nowak delivered flour and Kowalczyk worked the early shift.",
        "Kowalczyk and Nowak plan to keep the bakery open during the works, selling rolls from a cart on Quay Street.",
    ]
    text = "\n".join(body + witness)
    assert clean(text).text == text
