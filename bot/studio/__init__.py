"""A member's own studio (issue 16): what saves retyping. So far:

- `params`: Midjourney-style `--ar 16:9 --seed 7 --no text` parameters inside any prompt.
"""
