"""Stop headings in mid-article: a box of links to drop, not the end of the article (#13)."""

from __future__ import annotations

from scraper import clean

GERMAN_BEFORE = """Der Stadtrat von Freiburg hat am Dienstag den Bau einer neuen Straßenbahnlinie in den Stadtteil Dietenbach beschlossen.
Die Linie soll ab 2029 den neuen Stadtteil mit dem Hauptbahnhof verbinden und täglich rund 20.000 Fahrgäste befördern.
Die Kosten für die Straßenbahn schätzt die Verwaltung auf 140 Millionen Euro, den größten Teil tragen Bund und Land."""
GERMAN_BOX = """Auch interessant
Neues Hallenbad öffnet im Herbst
Polizei sucht Zeugen nach Unfall auf der B31
Weihnachtsmarkt zieht Bilanz"""
GERMAN_AFTER = """Gegen die Straßenbahnlinie nach Dietenbach hatten Anwohner im Rieselfeld protestiert, weil die Gleise durch ihren Stadtteil führen.
Der Oberbürgermeister verteidigte den Beschluss: Ohne die Straßenbahn werde Dietenbach im Verkehr ersticken, sagte er im Stadtrat."""

ENGLISH_BEFORE = """The city council voted on Tuesday to close the Harbour Bridge to cars for six months from March while engineers replace its deck.
Buses, cyclists and pedestrians will keep a single lane, but drivers face detours of up to forty minutes through the old town."""
ENGLISH_BOX = """Read more:
Council approves new budget for libraries
Storm damage closes coastal path near Westbay
Local bakery wins national bread award"""
ENGLISH_AFTER = """Engineers found corrosion in the bridge deck during an inspection last autumn, and said the repairs could not wait another winter.
The council will run extra ferries across the harbour while the bridge is closed, and says the deck repairs will cost 12 million pounds.
Shop owners in the old town fear the detours will keep customers away, and have asked the council for help during the closure."""

UNRELATED_BLURBS = """Read more:
Council approves new budget for libraries
Storm damage closes coastal path near Westbay
Local bakery wins national bread award
A family-run bakery from Northgate has won the national award for its sourdough loaf, beating 300 entries.
Heavy rain washed away part of the cliff path on Sunday, and walkers are asked to use the beach route instead."""


def test_german_box_in_mid_article_is_dropped_and_the_article_kept():
    result = clean(f"{GERMAN_BEFORE}\n{GERMAN_BOX}\n{GERMAN_AFTER}")
    assert result.text == f"{GERMAN_BEFORE}\n{GERMAN_AFTER}"
    assert {r.rule for r in result.removed} == {"stop-heading", "stop-heading.list"}


def test_english_read_more_box_in_mid_article_is_dropped_and_the_article_kept():
    result = clean(f"{ENGLISH_BEFORE}\n{ENGLISH_BOX}\n{ENGLISH_AFTER}")
    assert result.text == f"{ENGLISH_BEFORE}\n{ENGLISH_AFTER}"


def test_box_at_the_top_keeps_the_article_below_it():
    # A box above the article, with no article text before it: nothing there ends an article.
    result = clean(f"{ENGLISH_BOX}\n{ENGLISH_BEFORE}\n{ENGLISH_AFTER}")
    assert result.text == f"{ENGLISH_BEFORE}\n{ENGLISH_AFTER}"


def test_heading_at_the_end_with_unrelated_headlines_and_blurbs_is_still_cut():
    article = f"{ENGLISH_BEFORE}\n{ENGLISH_AFTER}"
    result = clean(f"{article}\n{UNRELATED_BLURBS}")
    assert result.text == article
