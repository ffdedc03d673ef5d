"""Word lists for `python -m app seed`: plausible, made-up patient details (no real people)."""


def _words(text: str) -> tuple[str, ...]:
    return tuple(text.split())


FEMALE_FIRST_NAMES = _words(
    """
    Mary Patricia Jennifer Linda Elizabeth Barbara Susan Jessica Sarah Karen Lisa Nancy Betty
    Sandra Margaret Ashley Kimberly Emily Donna Michelle Carol Amanda Melissa Deborah Stephanie
    Dorothy Rebecca Sharon Laura Cynthia Amy Kathleen Angela Shirley Brenda Emma Anna Pamela
    Nicole Samantha Katherine Christine Helen Debra Rachel Carolyn Janet Maria Catherine Heather
    Diane Olivia Julie Joyce Victoria Ruth Virginia Lauren Kelly Christina Joan Evelyn Judith
    Andrea Hannah Megan Cheryl Jacqueline Martha Madison Teresa Gloria Sara Janice Ann Kathryn
    Abigail Sophia Frances Jean Alice Judy Isabella Julia Grace Amber Denise Danielle Marilyn
    Beverly Charlotte Natalie Theresa Diana Brittany Doris Kayla Alexis Lori Marie Joanne Leah
    Rosa Annette Priya Aisha Fatima Mei Yuki Sofia Lucia Camila Valentina Ximena Ingrid Astrid
    Freya Chloe Zoe Mia Ava Harper Ella Aria Scarlett Layla Nora Lily Eleanor Hazel Aurora Penelope
    Luna Stella Violet Ivy Naomi Elena Maya Adriana Leilani Keiko Ananya Deepa Nadia Amira Zainab
    Oluwaseun Ngozi Chiamaka Thandiwe Roisin Siobhan Niamh Aoife Marguerite Josephine Rosalind
    Annika Johanna Susanne Marianne Hanna Suzanne Roxanne Dianne Leanne Joanna Savannah
    """
)

MALE_FIRST_NAMES = _words(
    """
    James Robert John Michael David William Richard Joseph Thomas Charles Christopher Daniel
    Matthew Anthony Mark Donald Steven Paul Andrew Joshua Kenneth Kevin Brian George Timothy
    Ronald Edward Jason Jeffrey Ryan Jacob Gary Nicholas Eric Jonathan Stephen Larry Justin Scott
    Brandon Benjamin Samuel Gregory Alexander Frank Patrick Raymond Jack Dennis Jerry Tyler Aaron
    Jose Adam Nathan Henry Douglas Zachary Peter Kyle Ethan Walter Noah Jeremy Christian Keith
    Roger Terry Gerald Harold Sean Austin Carl Arthur Lawrence Dylan Jesse Jordan Bryan Billy Joe
    Bruce Gabriel Logan Albert Willie Alan Juan Wayne Elijah Randy Roy Vincent Ralph Eugene
    Russell Bobby Mason Philip Louis Liam Oliver Lucas Mateo Santiago Diego Hugo Leon Felix Oscar
    Luca Marco Giovanni Pablo Rafael Andres Mohammed Omar Yusuf Ibrahim Hassan Ravi Arjun Rahul
    Vikram Hiroshi Kenji Takeshi Wei Jun Min Chen Dmitri Ivan Mikhail Sven Lars Erik Anders Nils
    Kwame Kofi Chinedu Emeka Tunde Sipho Thabo Declan Ciaran Eoin Padraig Callum Angus Hamish
    Johannes Stefan Dominic Sebastian Maximilian Theodore Ezra Silas Jasper Rowan Hunter Wyatt
    Grayson Julian Isaac Leo Miles Elias Caleb Owen Levi Isaiah Landon Carson Jackson Hudson
    """
)

LAST_NAMES = _words(
    """
    Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez
    Gonzalez Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris
    Sanchez Clark Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill
    Flores Green Adams Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Gomez Phillips
    Evans Turner Diaz Parker Cruz Edwards Collins Reyes Stewart Morris Morales Murphy Cook Rogers
    Gutierrez Ortiz Morgan Cooper Peterson Bailey Reed Kelly Howard Ramos Kim Cox Ward Richardson
    Watson Brooks Chavez Wood James Bennett Gray Mendoza Ruiz Hughes Price Alvarez Castillo
    Sanders Patel Myers Long Ross Foster Jimenez Powell Jenkins Perry Russell Sullivan Bell
    Coleman Butler Henderson Barnes Gonzales Fisher Vasquez Simmons Romero Jordan Patterson
    Alexander Hamilton Graham Reynolds Griffin Wallace Moreno West Cole Hayes Bryant Herrera
    Gibson Ellis Tran Medina Aguilar Stevens Murray Ford Castro Marshall Owens Harrison Fernandez
    McDonald Woods Washington Kennedy Wells Vargas Henry Chen Freeman Webb Tucker Guzman Burns
    Crawford Olson Simpson Porter Hunter Gordon Mendez Silva Shaw Snyder Mason Dixon Munoz Hunt
    Hicks Holmes Palmer Wagner Black Robertson Boyd Rose Stone Salazar Fox Warren Mills Meyer Rice
    Schmidt Garza Daniels Ferguson Nichols Stephens Soto Weaver Ryan Gardner Payne Grant Dunn
    Kelley Spencer Hawkins Arnold Pierce Vazquez Hansen Peters Santos Hart Bradley Knight Elliott
    Cunningham Duncan Armstrong Hudson Carroll Lane Riley Andrews Alvarado Ray Delgado Berry
    Perkins Hoffman Johnston Matthews Pena Richards Contreras Willis Carpenter Lawrence Sandoval
    O'Brien O'Connor O'Neill McCarthy Gallagher Doyle Byrne Walsh Quinn Brennan Kowalski Nowak
    Wojcik Novak Horvat Ivanov Petrov Smirnov Popescu Yilmaz Kaya Demir Haddad Khalil Nasser
    Rahman Hussain Ali Khan Singh Sharma Gupta Kumar Reddy Iyer Nair Tanaka Suzuki Watanabe
    Yamamoto Nakamura Sato Park Choi Jung Kang Zhang Wang Liu Yang Huang Zhao Wu Zhou Okafor
    Adeyemi Mensah Owusu Nkosi Dlamini Mwangi Otieno Larsen Nielsen Johansson Lindqvist Berg
    Muller Schneider Fischer Weber Becker Rossi Russo Ferrari Esposito Bianchi Romano Moreau
    Dubois Laurent Lefebvre Girard Bernard Leroy Van-Dijk De-Vries Jansen Bakker Visser
    """
)

EMAIL_DOMAINS = ("example.com", "example.org", "example.net", "mail.example", "inbox.test")

STREETS = _words(
    """
    Main Oak Pine Maple Cedar Elm Washington Lake Hill Park Walnut Sunset Lincoln Jackson
    Franklin Highland Willow Church Mill Spring River Meadow Forest Ridge Valley Chestnut Birch
    Madison Jefferson Adams Harbor Bay Orchard Prospect Union Center Summit Grove Beacon
    """
)
STREET_KINDS = ("St", "Ave", "Rd", "Blvd", "Ln", "Dr", "Ct", "Way", "Pl", "Terrace")
CITIES = (
    ("Springfield", "IL"),
    ("Portland", "OR"),
    ("Madison", "WI"),
    ("Austin", "TX"),
    ("Denver", "CO"),
    ("Raleigh", "NC"),
    ("Columbus", "OH"),
    ("Sacramento", "CA"),
    ("Albany", "NY"),
    ("Richmond", "VA"),
    ("Boise", "ID"),
    ("Tucson", "AZ"),
    ("Burlington", "VT"),
    ("Savannah", "GA"),
    ("Ann Arbor", "MI"),
    ("Providence", "RI"),
    ("Santa Fe", "NM"),
    ("Omaha", "NE"),
    ("Nashville", "TN"),
    ("Oakland", "CA"),
)

TAGS = (
    "anxiety",
    "depression",
    "insomnia",
    "trauma",
    "ptsd",
    "grief",
    "couples",
    "family",
    "adhd",
    "ocd",
    "stress",
    "addiction",
    "eating-disorder",
    "self-esteem",
    "anger",
    "teen",
    "telehealth",
    "sliding-scale",
    "intake-pending",
    "follow-up",
)

ALLERGIES_AND_MEDICATION = (
    "",
    "",
    "None known",
    "No known allergies",
    "Penicillin",
    "Peanuts",
    "Latex",
    "Sulfa drugs",
    "Shellfish; carries an EpiPen",
    "Sertraline 50 mg daily",
    "Fluoxetine 20 mg daily",
    "Escitalopram 10 mg daily",
    "Bupropion XL 150 mg",
    "Lithium 300 mg twice daily; levels checked quarterly",
    "Quetiapine 25 mg at night",
    "Methylphenidate 10 mg mornings",
    "Melatonin 3 mg as needed",
    "Penicillin; ibuprofen 200 mg as needed",
    "Codeine (nausea); lorazepam 0.5 mg as needed",
    "Aspirin; lisinopril 10 mg",
    "Pollen (seasonal); cetirizine 10 mg",
    "Levothyroxine 75 mcg",
)

THERAPISTS = (
    "Dr. Rivera",
    "Dr. Okafor",
    "Dr. Lindqvist",
    "Dr. Nakamura",
    "Dr. Patel",
    "Dr. Moreau",
    "J. Alvarez, LCSW",
    "M. Chen, LMFT",
    "S. O'Neill, PsyD",
    None,
)

SESSION_NOTES = (
    None,
    None,
    "Intake.",
    "Reviewed sleep diary; continue CBT-I.",
    "Discussed coping strategies for work stress.",
    "Exposure exercise went well; homework assigned.",
    "Follow-up on medication side effects.",
    "Family session; agreed on communication plan.",
    "Grief work; revisited memories with less distress.",
    "Patient reports improved mood this week.",
    "Missed last week; rescheduled.",
)

SESSION_MINUTES = (None, 30, 45, 50, 50, 50, 60, 90)

ADDED_NOTES = (
    "Referred by primary care physician.",
    "Prefers afternoon appointments.",
    "Insurance pre-authorisation on file.",
    "Needs an interpreter (Spanish).",
    "Emergency contact on file.",
    "Transferred from another clinic.",
)

ABOUT_NOTES = (
    "Teacher, two kids.",
    "Night-shift nurse.",
    "Graduate student.",
    "Retired; enjoys gardening.",
    "Works from home.",
    "Runs marathons.",
    "New to the area.",
    "Musician.",
)

LEDGER_REASONS = ("Top-up", "Top-up", "Prepaid sessions", "Gift card", "Refund")
CHARGE_REASONS = ("Session fee", "Late cancellation fee", "No-show fee")
