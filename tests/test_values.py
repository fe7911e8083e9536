"""Question kinds and value recognition on text of many genres (no model)."""

from __future__ import annotations

import pytest

from assistant import answer as answerer
from assistant import question as questions
from assistant import values

OBSERVATORY = "The Quillon Observatory was founded in 1881 by the astronomer Mara Ellison on the island of Tessa."


@pytest.mark.parametrize("sentence, question, value", [
    (OBSERVATORY, "When was the Quillon Observatory founded?", "1881"),
    (OBSERVATORY, "Where is the Quillon Observatory?", "on the island of Tessa"),
    (OBSERVATORY, "Who founded the Quillon Observatory?", "Mara Ellison"),
    ("The Taj Mahal was commissioned in 1631 by Shah Jahan.", "When was the Taj Mahal built?", "1631"),
    ("The first houses were built c. 2500 BCE on the terrace.", "When were the first houses built?", "c. 2500 BCE"),
    ("The temple dates from the 7th century BC.", "When does the temple date from?", "the 7th century BC"),
    ("Version 3.8 was released on 14 March 2025.", "When was version 3.8 released?", "14 March 2025"),
    ("Version 3.8 was released on 14 March 2025.", "On what date was version 3.8 released?", "14 March 2025"),
    ("Last admission is one hour before closing.", "When is last admission?", "one hour before"),
    ("Add 180 g of sugar and 2 tbsp of butter.", "How much sugar do I add?", "180 g"),
    ("The fine is £400 for a first offence.", "How much is the fine for a first offence?", "£400"),
    ("The contract is worth £38,500 a year.", "How much is the contract worth?", "£38,500"),
    ("The blade is 22 centimetres long.", "How long is the blade?", "22 centimetres"),
    ("Bake at 200°C for 12 to 14 minutes.", "At what temperature should I bake it?", "200°C"),
    ("The trail is 12 km long and takes about 4.5 hours.", "How far is the trail?", "12 km"),
    # a range is one value
    ("Brush with egg and bake for 12 to 14 minutes, until golden.", "How long do they bake?", "12 to 14 minutes"),
    ("Allow 2 or 3 days for delivery.", "How long does delivery take?", "2 or 3 days"),
    ("Each bag weighs 12–14 kg when full.", "How much does a bag weigh?", "12–14 kg"),
    ("Using your own car is paid at 45p per mile.", "How much do I get per mile for my car?", "45p"),
    ("You must be 16 or over to hire a bike.", "How old do you have to be to hire a bike?", "16 or over"),
    ("Refunds are paid back within 5 working days.", "How long does a refund take?", "5 working days"),
    ("The serial number is printed at the back of the appliance.", "Where can I find the serial number?",
     "at the back of the appliance"),
    ("Offsets are stored in /var/lib/logwren/offsets.db by default.", "Where are offsets stored?",
     "/var/lib/logwren/offsets.db"),
    ("The museum is at 12 Cooper's Wharf, Saltash Haven.", "Where is the museum?", "12 Cooper's Wharf"),
    ("The exhibition is in Room 204 on the second floor.", "Where is the exhibition?", "Room 204"),
    ("- The query cache now lives in `~/.cache/quarry/`.", "Where does Quarry keep its query cache?",
     "`~/.cache/quarry/`"),  # a path is an answer even when its words are the question's
    ("Jean-Luc de la Fontaine-Marais was the architect.", "Who was the architect?", "Jean-Luc de la Fontaine-Marais"),
    ("It was published in 1768, seven years after his death.", "How many beds does the hut have?", ""),
    ("- A leak when the same `Table` was read from two threads.", "Who reported the leak?", ""),  # code, no name
    # "how many X" counts X: a measure is no count of it
    ("Bake for 12 to 14 minutes.", "How many calories are in one bun?", ""),
    ("The depth at the quay was 7 m in 1790.", "How many ships called at the port?", ""),
    ("The refuge has 36 beds in four dormitories.", "How many beds does it have?", "36 beds"),
    ("Beds: 42 in dormitories, plus 6 double rooms", "How many beds does it have?", "42"),  # a labelled value
    ("Opened: 1921, 14 rooms", "How many beds does it have?", ""),  # the label is another thing
    # a unit class asked for: a number of another kind is no answer
    ("The DH-20 comes with a 3.5 litre water tank.", "How heavy is the dehumidifier?", ""),
    ("It weighs 13.2 kg without water.", "How heavy is the dehumidifier?", "13.2 kg"),
    ("Bake for 12 minutes at 200°C.", "How hot should the oven be?", "200°C"),
    ("Students can get the annual membership for £45.", "How much does a student pay a year?", "£45"),
    # "how much" asks for a measure or a sum, "what time" for a time of day
    ("He presented three quotes and chose the one at £18,400.", "How much were the boat quotes?", "£18,400"),
    ("He presented three quotes.", "How much were the boat quotes?", ""),
    ("Add 2 tsp ground cardamom to the flour.", "How much cardamom goes into the dough?", "2 tsp"),
    ("The date of the spring regatta is 17 May.", "What time does the spring regatta start?", ""),
    ("The regatta starts at 9:30 on 17 May.", "What time does the spring regatta start?", "at 9:30"),
    ("Please have your child at school by 8.15 am.", "What time do I drop my child off?", "8.15 am"),
    # a title with its period belongs to the name ("Mr" alone is no answer)
    ("- Building manager: Mr. Gareth Llewellyn-Price, ext. 6100", "Who is the building manager?",
     "Mr. Gareth Llewellyn-Price"),
    ("Minor surgery: Wednesday afternoons with Dr. Felix Obuya.", "Who does the minor surgery?", "Dr. Felix Obuya"),
    ("Technical contact: Ing. Ximena Aldao-Ferrer.", "Who is the technical contact?", "Ing. Ximena Aldao-Ferrer"),
    ("Presented by Cllr. Marguerite de Souza-Platt, Cabinet Member for Finance.", "Who presented the budget?",
     "Cllr. Marguerite de Souza-Platt"),
    ("— *Rev. Dr. Olamide Fairbairn-Kovac, Chair of Trustees*", "Who is the chair of trustees?",
     "Rev. Dr. Olamide Fairbairn-Kovac"),
    # "how much X": areas, volumes and masses count as amounts ("1,200 hectares", not no value)
    ("At low water, about 1,200 hectares of mud and sand are exposed.", "How much mudflat is uncovered?",
     "1,200 hectares"),
    ("Three rock-cut cisterns held a combined 410 cubic metres of water.", "How much water could they hold?",
     "410 cubic metres"),
    ("In all, 96 tonnes of food were distributed by 3 hubs.", "How much food was given out?", "96 tonnes"),
    ("The hall has 240 m² of floor space.", "How much floor space is there?", "240 m²"),
    # "how long" is answered by when it ends, with the whole date
    ("The Norrik gets security updates until August 2028.", "How long will the Norrik get security updates?",
     "until August 2028"),
    ("The offer is valid until 31 March 2026.", "How long is the offer valid?", "until 31 March 2026"),
    ("Winter timetable valid from 8 December 2025 to 17 May 2026.", "How long is this timetable valid?",
     "from 8 December 2025 to 17 May 2026"),
    ("| `idle_timeout` | `300s` | Close connections silent for this long |", "After how long are they closed?", "300s"),
    ("In the 1990s, sales grew by 3 percent.", "How long did sales grow?", ""),  # a decade is no length of time
    # the value of a line labelled as a place answers "where"
    ("- Fire assembly point: the lamp post at the far end of the car park.", "Where do we assemble in a fire?",
     "the lamp post at the far end of the car park"),
    ("Place: Tregenza-Holt's workshop, The Old Tannery, Mill Street, Kestlebridge", "Where was the interview done?",
     "Tregenza-Holt's workshop, The Old Tannery, Mill Street, Kestlebridge"),
    ("- **Location:** Room 2.14, Hartwell Building", "Where is the lab?", "Room 2.14, Hartwell Building"),
    ("Venue: TBC", "Where is the final?", ""),  # a placeholder is no place
    ("**Session:** Friday 14 February 2025", "Where was the session held?", ""),  # a label that names no place
    ("The bakery on Rue Lépine opens at six o’clock every morning except Sunday.",
     "When does the bakery open?", "at six o’clock"),
    ("The night train leaves at 21:40 and arrives at 07:50.", "When does the night train leave?",
     "at 21:40"),
    ("A croissant costs €1.40 and a baguette costs €1.10.", "How much money does a croissant cost?",
     "€1.40"),
    ("Sleeper cabins have three beds; couchettes have six.", "How many beds do sleeper cabins have?",
     "three"),
    ("The statement is not clear on exactly what role the U.S. would play.",
     "What percentage of the force is American?", ""),
    ("“It’s also from the U.S.”", "Besides Russia, who did an EU diplomat accuse?", "U.S."),
    ("“Where’s the credibility?” one European diplomat asked.", "Who asked about credibility?", ""),
    (("It was signed by European Commission President Ursula von der Leyen and António Costa, president "
             "of the European Council."), "Who is the president of the European Council?", "António Costa"),
    ("Leaders hope for a deal by Christmas after nearly four years of war.",
     "How long has the war been going on?", "nearly four years"),
    ("Leaders hope for a deal by Christmas.", "How long has the war been going on?", ""),
    ("Leaders hope for a deal by Christmas.", "How long is the offer open?", "by Christmas"),
    ("Talks with the EU were held in Brussels.", "Which city hosted the talks?", "Brussels"),
    ("BERLIN — Merz and the EU hosted the talks.", "Which city hosted the talks?", "BERLIN"),
    ("Merz and the EU hosted the talks.", "Which city hosted the talks?", ""),
    ("A typical month of 20 photos a day uses about 300 MB.",
     "Roughly how much mobile data does the Pro use in a month?", "300 MB"),
    ("Dunmere took nine hours and cost 14 shillings each.", "How much was the coach fare?", "14 shillings"),
    ("The Cambrian lasted 51.95 million years.", "How long did the Cambrian last?", "51.95 million years"),
    ("Despite dying at the early age of 45, he wrote a great deal.", "How old was he when he died?",
     "age of 45"),
    ("A cleaner visits every fortnight to clean the kitchen.", "How often does the cleaner come?",
     "every fortnight"),
    ("Take two tablets 3 times a day.", "How often should I take them?", "3 times a day"),
    ("Inkwell autosaves every 30 seconds.", "How often does Inkwell autosave?", "every 30 seconds"),
    ("The World Cup is a quadrennial tournament.", "How often is the World Cup held?", "quadrennial"),
    ("The two islands lie about 81 nautical miles apart.", "How far apart are the islands?",
     "81 nautical miles"),
    ("The Qing launched four invasions of Burma between 1765 and 1769.",
     "How many times did the Qing invade Burma?", "four"),
    ("With a population of 201,800, it is the second-smallest state.", "How many people live there?",
     "201,800"),
    ("Halvern consigned 18,400 kg of apples, a distance of 412 km.", "How many kilos of apples were shipped?",
     "18,400 kg"),
    ("The town grew fast in the 1990s.", "How much did the town grow?", ""),
    ("- The key is in the glovebox, in the small black pouch.", "Where is the key?", "in the glovebox"),
    ("The first-aid kit is on the hook inside the blue shed door.", "Where is the first-aid kit?", "on the hook"),
    ("In the end the key was lost.", "Where is the key?", ""),
    ("The museum is at 12 Cooper's Wharf, Saltash Haven.", "Who founded the museum?", ""),
    ("The warehouse on Cooper's Wharf was built by Thomas Penrose.", "Who built the warehouse?",
     "Thomas Penrose"),
    ("The field excursion costs an extra 45 EUR.", "How much extra is the field trip?", "45 EUR"),
    ("It is native from southern Brazil to Mexico.", "Where is the green iguana native to?", "Brazil"),
    ("Its history dates back to at least 5000 BC.", "How far back does Iranian architecture go?", "5000 BC"),
    ("Held on Friday 14 March 2025 at 7:30 pm.", "When was the meeting held?", "Friday 14 March 2025"),
    ("Next meeting: Tuesday, 3 June 2025.", "When is the next meeting?", "Tuesday, 3 June 2025"),
    ("Speeds are around 35 Mbps; video calls work best upstairs.", "How fast is the broadband?", "35 Mbps"),
    ("Uploads run at 40 MB/s over the cable.", "How fast is the upload?", "40 MB/s"),
    ("The status page was updated within 11 minutes.", "How fast was the status page updated?",
     "11 minutes"),
    ("It was built in the 1990s by three people.", "How fast is it?", ""),
    ("Order the laptop at least 10 working days before the start date.",
     "How far ahead should the manager order the laptop?", "at least 10 working days"),  # a time, not a length
    ("No person may serve as Chair for more than four consecutive years.", "How long can someone be chair?",
     "more than four consecutive years"),
    ("Replacement buses will run from the forecourt of Lindqvist Bridge station.",
     "Where do the replacement buses leave from?", "Lindqvist Bridge"),
    ("Label text for the Brannock Museum of Daily Life, second floor, east wing.",
     "Where in the museum is Gallery 7?", "second floor, east wing"),
    ("We met at the end of March to plan it.", "Where did they meet?", ""),
    # "how many X" counts the phrase's head noun, not its first word
    ("The Civic Alliance kept control with 19 seats, down from 22.",
     "How many council seats does the Civic Alliance hold now?", "19 seats"),
    ("The car park has 60 spaces and 4 blue-badge bays.", "How many disabled parking bays are there?", "4"),
    ("| D | Adjustable shelf | 3 |", "How many adjustable shelves come in the box?", "3"),
    ("| Energy | 168 kcal |", "How many calories are in a slice?", "168 kcal"),
    ("| Energy | 598 kJ / 143 kcal | 32% |", "How many calories are in the pack?", "143 kcal"),
    ("| Marchetti Ox | Beefsteak | 85 |", "How many Marchetti Ox plants fit in a bag?", ""),  # not a name
    ("68% of our visitors now arrive on phones.", "How many visitors does the site get?", ""),  # a share
    ("No more than two missing receipt declarations will be accepted.",
     "How many lost-receipt declarations can I make?", "more than two"),
    ("Young leave the nest at 11–12 days old.", "How old are the chicks when they fledge?", "11–12 days old"),
    ("Forty-two miles in a little under two hours!", "How far was the railway journey?", "Forty-two miles"),
    ("The council has 19 members.", "How many council seats does the Civic Alliance hold now?", ""),
    ("Check the pressure every two weeks.", "How often should I check the tyre pressure?", "every two weeks"),
    ("Batch mode flushes every 200 ms.", "How often does batch mode flush?", "every 200 ms"),
    ("The main water stopcock is in room B.02.", "Where is the main water shut-off?", "room B.02"),
    ("Papers are at vellamy.example.gov/budget2026 and in libraries.", "Where can I read the papers?",
     "vellamy.example.gov/budget2026"),
    ("Choose it under **Settings → Export → Delimiter**.", "Where do I change the separator?",
     "Settings → Export → Delimiter"),
    ("Email it to jo@firm.co.uk by Friday.", "Where do I send it?", ""),
    ("Results are expected within 7 to 10 working days.", "When will the results come back?",
     "within 7 to 10 working days"),
    ("Agree objectives by the end of week 4.", "By when should objectives be agreed?", "by the end of week 4"),
    ("Staff must notify IT at least 5 working days before departure.", "How much notice does IT need?",
     "at least 5 working days"),
])
def test_values_of_many_forms(sentence, question, value):
    asked = questions.analyse(question)
    got = values.find(asked.kind, sentence, question, asked.unit)
    assert got == value
    assert got in sentence


@pytest.mark.parametrize("question, kind", [
    ("How much is the daily food allowance when I stay overnight?", "quantity"),  # "when" of a subordinate clause
    ("Do I have to bring the bike back to the station where I took it?", "yesno"),
    ("When am I allowed to travel first class?", "what"),  # a condition, not a time
    ("What does error code E2 mean on the dehumidifier?", "what"),  # a thing, not a speaker
    ("What does the manual say about descaling?", "what"),
    ("What did the German chancellor say about Article 5?", "say"),
    ("For roughly how long has the war been raging?", "duration"),
    ("Besides Russia, who did an EU diplomat accuse?", "who"),
    ("Why was the default encoding switched to UTF-8?", "why"),
    ("How do I make ledgerd start at boot?", "how"),
    ("Is the museum open on Mondays?", "yesno"),
    # a scene-setting clause first: the question proper follows its comma
    ("When dedupe finds identical files, which copy does it keep?", "what"),
    ("When the light blinks red, should I replace the filter?", "yesno"),
    ("If I move house, who do I tell?", "who"),
    ("When did the war end?", "when"),
    ("How far ahead should the manager order the laptop?", "duration"),  # a time, not a distance
])
def test_question_kind_comes_from_the_asking_clause(question, kind):
    assert questions.analyse(question).kind == kind


@pytest.mark.parametrize("line, heading", [
    ("# Fernwatch TC-8 Datasheet", True),
    ("Ferrowise Ledger 3.8 Release Notes", True),
    ("**Can I take a bike on the ferry?**", True),  # an FAQ's question never answers itself
    ("DAY 1: TALGRUND (1,120 m) TO BRENNER HUT (1,920 m)", True),
    ("| Feature | TC-8 Lite | TC-8 | TC-8 Pro |", True),
    ("| Price (RRP) | €179 | €299 | €549 |", False),
    ("**Release manager:** Priya Lindqvist-Harrow", False),  # a label and its value
    ("The museum has no car park of its own.", False),
    ("1. Install the server.", False),
    ("2. **Install the server.**", True),  # a step's heading: its body follows
    ("- **Seats:** 12 at the bar", False),
    ("Beds: 42 in dormitories, plus 6 double rooms", False),  # a label and its value
    ("Open: mid-June to the end of September, depending on snow", False),  # a label and a phrase
    ("Part 2: The Return of the King", True),  # a title's two halves
    ("Contents:", True),
])
def test_titles_questions_and_label_rows_never_answer_alone(line, heading):
    assert answerer.is_heading(line) is heading
