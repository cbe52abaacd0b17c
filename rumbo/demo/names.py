"""Reference lists for synthetic persons: given names, surnames, languages, area codes, streets.

The weights are ILLUSTRATIVE. They follow the order of the most frequent names published for Mexico
(RENAPO / INEGI name rankings) and Honduras (RNP), but the numbers are rounded approximations chosen so that
common names are common and rare names are rare; they are not statistics and must not be quoted as such. A
few rare names are added on purpose so that searches for an uncommon surname have few hits, as in a real
registry.

Each list holds ``(name, weight)`` pairs; a weight is relative within its list.
"""

from __future__ import annotations

# --- Mexico -------------------------------------------------------------------------------------------

MX_MALE_GIVEN: list[tuple[str, int]] = [
    ("José Luis", 120), ("Juan", 110), ("José", 100), ("Juan Carlos", 70), ("Miguel Ángel", 70),
    ("Luis", 60), ("Francisco", 60), ("Jesús", 55), ("Antonio", 50), ("Alejandro", 50), ("Carlos", 50),
    ("Jorge", 45), ("José Antonio", 40), ("Pedro", 40), ("Manuel", 40), ("Ricardo", 35), ("Roberto", 35),
    ("Fernando", 35), ("Javier", 35), ("Juan Manuel", 32), ("Francisco Javier", 30), ("Eduardo", 30),
    ("Daniel", 30), ("Rafael", 28), ("Sergio", 28), ("Martín", 28), ("José Manuel", 26), ("Raúl", 25),
    ("Arturo", 25), ("Enrique", 24), ("Víctor Manuel", 22), ("Ángel", 22), ("Mario", 22), ("Alberto", 20),
    ("Héctor", 20), ("Salvador", 20), ("Ramón", 18), ("José Guadalupe", 18), ("Gerardo", 18), ("Óscar", 18),
    ("Marco Antonio", 14), ("Hugo", 15), ("Andrés", 15), ("Diego", 15), ("Alfredo", 15), ("Armando", 15),
    ("Rubén", 15), ("Gabriel", 15), ("Juan José", 14), ("José de Jesús", 14), ("Luis Fernando", 12),
    ("Juan Pablo", 12), ("Jorge Luis", 12), ("Guillermo", 12), ("Adrián", 12), ("Santiago", 12),
    ("Sebastián", 12), ("Ernesto", 10), ("Ignacio", 10), ("Gustavo", 10), ("Felipe", 10), ("Emiliano", 10),
    ("Leonardo", 10), ("Mateo", 10), ("Ángel Gabriel", 8), ("Isaac", 8), ("Rodolfo", 8), ("Agustín", 8),
    ("Tomás", 8), ("Iker", 6), ("Abel", 6), ("Benito", 5), ("Efraín", 5), ("Cuauhtémoc", 4),
    ("Bernardino", 2), ("Eleuterio", 1), ("Nicanor", 1), ("Zacarías", 1),
]  # fmt: skip

MX_FEMALE_GIVEN: list[tuple[str, int]] = [
    ("María Guadalupe", 110), ("María", 90), ("Guadalupe", 60), ("Juana", 55), ("María Elena", 40),
    ("Margarita", 40), ("Verónica", 35), ("Rosa María", 35), ("Leticia", 32), ("Patricia", 32),
    ("Elizabeth", 30), ("Alejandra", 30), ("Gabriela", 30), ("Adriana", 28), ("Ana María", 28),
    ("María del Carmen", 28), ("Martha", 26), ("Silvia", 25), ("Teresa", 24), ("Laura", 24),
    ("Josefina", 22), ("Claudia", 22), ("María de Jesús", 22), ("Araceli", 20), ("Yolanda", 20),
    ("Sandra", 20), ("Gloria", 18), ("Norma", 18), ("Rosa", 18), ("Mónica", 16), ("Lucía", 14), ("Ana", 14),
    ("María Isabel", 14), ("María Fernanda", 14), ("Daniela", 14), ("Fernanda", 12), ("Sofía", 12),
    ("Valeria", 12), ("Ximena", 12), ("Mariana", 12), ("Andrea", 12), ("Karla", 12), ("Brenda", 12),
    ("Diana", 12), ("María José", 12), ("Camila", 10), ("Regina", 10), ("Erika", 10), ("Blanca Estela", 8),
    ("Itzel", 8), ("Esperanza", 8), ("Dolores", 8), ("Concepción", 8), ("Nayeli", 6), ("Berenice", 6),
    ("Alma Delia", 6), ("Ofelia", 6), ("Socorro", 6), ("Catalina", 6), ("Ana Karen", 6), ("Xóchitl", 5),
    ("Citlali", 5), ("Micaela", 3), ("Hermelinda", 2), ("Eufemia", 1), ("Tranquilina", 1),
]  # fmt: skip

MX_SURNAMES: list[tuple[str, int]] = [
    ("Hernández", 430), ("García", 300), ("Martínez", 250), ("López", 230), ("González", 220),
    ("Pérez", 160), ("Rodríguez", 160), ("Sánchez", 150), ("Ramírez", 140), ("Cruz", 100), ("Flores", 90),
    ("Gómez", 90), ("Morales", 70), ("Vázquez", 70), ("Reyes", 70), ("Jiménez", 65), ("Torres", 60),
    ("Díaz", 60), ("Gutiérrez", 60), ("Ruiz", 55), ("Mendoza", 55), ("Aguilar", 55), ("Ortiz", 50),
    ("Moreno", 50), ("Castillo", 45), ("Romero", 45), ("Álvarez", 45), ("Méndez", 43), ("Chávez", 42),
    ("Rivera", 40), ("Juárez", 40), ("Ramos", 40), ("Domínguez", 38), ("Herrera", 38), ("Medina", 37),
    ("Castro", 35), ("Vargas", 34), ("Guzmán", 33), ("Velázquez", 32), ("Muñoz", 31), ("Rojas", 30),
    ("Contreras", 29), ("Salazar", 28), ("Luna", 28), ("Ortega", 28), ("Santiago", 27), ("Guerrero", 26),
    ("Estrada", 25), ("Bautista", 25), ("Cortés", 24), ("Soto", 24), ("Alvarado", 23), ("Espinoza", 23),
    ("Lara", 22), ("Ávila", 22), ("Ríos", 22), ("Cervantes", 21), ("Silva", 21), ("Delgado", 21),
    ("Vega", 20), ("Márquez", 20), ("Sandoval", 20), ("Fernández", 19), ("León", 19), ("Carrillo", 19),
    ("Mejía", 19), ("Solís", 18), ("Núñez", 18), ("Rosas", 18), ("Valdez", 18), ("Ibarra", 17),
    ("Campos", 17), ("Santos", 17), ("Camacho", 17), ("Navarro", 17), ("Peña", 16), ("Maldonado", 16),
    ("Rosales", 16), ("Acosta", 16), ("Miranda", 15), ("Trejo", 15), ("Valencia", 15), ("Nava", 15),
    ("Pacheco", 14), ("Huerta", 14), ("Padilla", 14), ("Molina", 14), ("Ayala", 14), ("De la Cruz", 13),
    ("Robles", 13), ("Cabrera", 13), ("Cano", 12), ("Zamora", 11), ("Ochoa", 11), ("Tapia", 11),
    ("Galván", 10), ("Olvera", 10), ("Zúñiga", 10), ("Quiroz", 9), ("Anaya", 9), ("Zepeda", 9),
    ("Barajas", 8), ("Magaña", 8), ("Arreola", 7), ("Zavala", 7), ("Villaseñor", 6), ("De León", 6),
    ("Ceja", 5), ("Yáñez", 5), ("Bañuelos", 4), ("Echeverría", 4), ("Sepúlveda", 4), ("Tinoco", 3),
    ("Del Ángel", 3), ("De los Santos", 3), ("Sántiz", 3), ("Patishtán", 2), ("Tzintzun", 2),
    ("Huitrón", 2), ("Urquiza", 1), ("Iturbide", 1), ("Xochihua", 1), ("Ñeco", 1),
]  # fmt: skip

# --- Honduras (and, sharing these lists, Guatemala) -----------------------------------------------------

HN_MALE_GIVEN: list[tuple[str, int]] = [
    ("José", 60), ("Juan", 40), ("Carlos", 40), ("Luis", 30), ("Jorge", 25), ("Mario", 25), ("Marvin", 22),
    ("Kevin", 20), ("Elvin", 18), ("Wilmer", 18), ("Nelson", 18), ("Óscar", 18), ("Denis", 15),
    ("Selvin", 15), ("Edwin", 15), ("Franklin", 14), ("Cristian", 14), ("Josué", 14), ("José Luis", 14),
    ("Juan Carlos", 14), ("Darwin", 12), ("Brayan", 12), ("Wilson", 12), ("Milton", 10), ("Erick", 10),
    ("Santos", 10), ("Walter", 10), ("Carlos Roberto", 8), ("Dany", 8), ("Allan", 8), ("Roger", 8),
    ("Elmer", 8), ("Héctor", 8), ("Fredy", 8), ("Omar", 8), ("Melvin", 6), ("Ever", 5), ("Olvin", 4),
    ("Lester", 4), ("Osman", 4),
]  # fmt: skip

HN_FEMALE_GIVEN: list[tuple[str, int]] = [
    ("María", 50), ("Ana", 25), ("Karla", 20), ("Sandra", 18), ("Wendy", 16), ("Dania", 14), ("Glenda", 14),
    ("Suyapa", 14), ("Maritza", 12), ("Yesenia", 12), ("Brenda", 12), ("Alejandra", 12), ("Gabriela", 12),
    ("María José", 12), ("Dilcia", 10), ("Reina", 10), ("Kenia", 10), ("Dayana", 10), ("Sofía", 10),
    ("Lesbia", 8), ("Delmy", 8), ("Marlen", 8), ("Heidy", 8), ("Iris", 8), ("Xiomara", 8), ("Lourdes", 8),
    ("Nohemy", 6), ("Ana Julia", 6), ("Karla Patricia", 6), ("Dunia", 6), ("Fanny", 6), ("Sindy", 6),
    ("Martha Lidia", 4), ("Yolani", 4), ("Merlin", 4),
]  # fmt: skip

HN_SURNAMES: list[tuple[str, int]] = [
    ("López", 120), ("Hernández", 110), ("Martínez", 100), ("Rodríguez", 90), ("García", 80), ("Mejía", 60),
    ("Flores", 60), ("Reyes", 55), ("Cruz", 50), ("Pérez", 50), ("Castro", 40), ("Sánchez", 40),
    ("Ramírez", 38), ("Gómez", 35), ("Díaz", 30), ("Zelaya", 30), ("Ramos", 28), ("Bonilla", 28),
    ("Rivera", 28), ("Aguilar", 26), ("Ortiz", 24), ("Velásquez", 24), ("Ávila", 22), ("Orellana", 22),
    ("Romero", 20), ("Maradiaga", 20), ("Cálix", 18), ("Matute", 16), ("Banegas", 16), ("Amador", 16),
    ("Euceda", 14), ("Cerrato", 14), ("Ordóñez", 14), ("Lagos", 12), ("Padilla", 12), ("Fúnez", 12),
    ("Murillo", 12), ("Paz", 12), ("Pineda", 12), ("Chávez", 12), ("Ponce", 10), ("Sevilla", 10),
    ("Portillo", 10), ("Alvarado", 10), ("Andino", 8), ("Osorto", 8), ("Vásquez", 8), ("Turcios", 8),
    ("Cardona", 8), ("Escobar", 8), ("Mendoza", 8), ("Moncada", 8), ("Sosa", 8), ("Baquedano", 6),
    ("Suazo", 5), ("Guity", 3), ("Bernárdez", 3), ("Arzú", 2), ("Laboriel", 2),
]  # fmt: skip

# --- Languages ------------------------------------------------------------------------------------------
# Share of people aged 3+ who speak an Indigenous language, by birth state (INEGI 2020, rounded), and the
# ISO 639-3 codes of the main languages there ("nah" is the ISO 639-5 collective code for Nahuatl, which the
# person registry accepts).
INDIGENOUS_BY_STATE: dict[str, tuple[float, list[str]]] = {
    "20": (0.31, ["zap", "mix"]),  # Oaxaca
    "07": (0.28, ["tzo", "tzh", "ctu"]),  # Chiapas
    "12": (0.15, ["nah", "mix"]),  # Guerrero
    "16": (0.03, ["tsz"]),  # Michoacán (Purépecha)
    "14": (0.01, ["hch"]),  # Jalisco (Wixárika)
}
# Garífuna is spoken on the Caribbean coast of Honduras: Atlántida (01), Colón (02), Gracias a Dios (09).
GARIFUNA_DEPARTMENTS = {"01", "02", "09"}

# --- Phones -----------------------------------------------------------------------------------------------
# Real Mexican area codes (claves LADA) of the main cities of each state; since 2019 every number has
# 10 digits.
MX_AREA_CODES: dict[str, list[str]] = {
    "16": ["443", "452", "351", "352", "353", "434", "753", "715"],  # Morelia, Uruapan, Zamora, ...
    "14": ["33", "322", "341", "378", "392", "474"],  # Guadalajara, Puerto Vallarta, ...
    "20": ["951", "971", "953", "954", "287", "958"],  # Oaxaca, Juchitán, Huajuapan, ...
    "12": ["744", "747", "733", "755", "757", "741"],  # Acapulco, Chilpancingo, Iguala, ...
    "07": ["961", "962", "967", "963", "916", "919"],  # Tuxtla, Tapachula, San Cristóbal, ...
    "09": ["55"],  # Ciudad de México
}
MX_DEFAULT_AREA_CODES = ["55", "33", "81", "222", "442", "477", "664"]
# Los Angeles area codes for Mexicans living in California.
US_AREA_CODES = ["213", "323", "818", "562", "626", "310", "909", "714"]
# Honduran mobile numbers: 8 digits starting with 3, 8 or 9.
HN_MOBILE_FIRST_DIGITS = ["3", "8", "9"]

# --- Addresses --------------------------------------------------------------------------------------------
STREETS = [
    "Hidalgo", "Morelos", "Juárez", "Benito Juárez", "Independencia", "Reforma", "5 de Mayo",
    "16 de Septiembre", "Allende", "Zaragoza", "Guerrero", "Madero", "Obregón", "Emiliano Zapata",
    "Niños Héroes", "Lázaro Cárdenas", "Revolución", "Aldama", "Matamoros", "Galeana", "Insurgentes",
]  # fmt: skip
NEIGHBOURHOODS = [
    "Centro", "La Joya", "Las Flores", "El Carmen", "San José", "Santa María", "Guadalupe", "Lomas del Valle",
    "Jardines", "Obrera", "Revolución", "Independencia", "Emiliano Zapata", "Ejidal", "Buenos Aires",
]  # fmt: skip
US_STREETS = [
    "S Broadway",
    "E Cesar E Chavez Ave",
    "W Olympic Blvd",
    "N Figueroa St",
    "E 1st St",
    "Pico Blvd",
]
