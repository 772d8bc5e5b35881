"""Pure planning of a rollup: claims to statuses, level tables and what each workbook shows."""
