"""Alto al Fuego evaluation workbook: data -> panel -> impact estimates -> quarterly report."""

__version__ = "0.1.0"
