"""National minimum working ages for the countries the NGO serves.

Each figure is the general minimum age for employment in national law (ILO C138
terms); light work and hazardous work have their own ages and are not modelled
here. An enterprise's configuration may override a country's figure.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class NationalMinimumAge:
    """The minimum working age of one country and where the figure comes from."""

    country: str
    age: int
    source: str


NATIONAL_MINIMUM_AGES: dict[str, NationalMinimumAge] = {
    entry.country: entry
    for entry in (
        NationalMinimumAge("BD", 14, "Bangladesh Labour Act 2006, s. 34 (as amended 2013, 2018)"),
        NationalMinimumAge("KH", 15, "Cambodia Labour Law 1997, art. 177"),
        NationalMinimumAge("CN", 16, "Labour Law of the PRC 1994, art. 15"),
        NationalMinimumAge("EG", 15, "Egypt Child Law No. 12/1996 as amended by Law 126/2008, art. 64"),
        NationalMinimumAge(
            "IN", 14, "Child and Adolescent Labour (Prohibition and Regulation) Act 1986 (2016), s. 3"
        ),
        NationalMinimumAge("ID", 15, "Indonesia Manpower Act No. 13/2003, arts. 68-69; C138 declaration"),
        NationalMinimumAge("LA", 14, "Lao Labour Law 2013, art. 119"),
        NationalMinimumAge("MM", 14, "Myanmar Factories Act 1951 as amended 2016, s. 75"),
        NationalMinimumAge("TR", 15, "Turkey Labour Law No. 4857, art. 71"),
        NationalMinimumAge("VN", 15, "Viet Nam Labour Code 2019, art. 143"),
        NationalMinimumAge("MX", 15, "Mexico Federal Labour Law, art. 22; Constitution art. 123 A(III)"),
    )
}

#: Under this age no one may do hazardous work, in every country (ILO C182).
HAZARDOUS_WORK_AGE = 18
