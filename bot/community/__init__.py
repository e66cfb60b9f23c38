"""Community: members building on each other's images.

- `derive`: variations, rerolls, remixes and upscales of a result (and of any posted image),
  each credited to the author it builds on.
- `loras`: LoRA links and the server's LoRA library.
- `lineage`: a result's chain back to its root, and its children.
- `images`: input images, fetched only from Discord's CDN, checked and normalised.
- `gallery`: shares, ⭐ votes and `/gallery top`.
- `reports`: 🚩 reports and the moderators' actions on them.
"""
