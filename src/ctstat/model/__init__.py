"""Values and vocabularies every stage shares: the catalogue, units, periods, issues and their words."""
