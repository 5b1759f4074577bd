"""medadv: executable companion to Bortsova et al., "Adversarial attack vulnerability of medical image analysis
systems: unexplored factors" (Medical Image Analysis 73, 2021, doi:10.1016/j.media.2021.102141)."""

__version__ = "0.1.0"
