"""smtp-probe: play scripted SMTP sessions and judge every reply against the SMTP documents."""

__version__ = "0.1.0"
