"""A member's own studio (issue 16): what saves retyping. So far:

- `params`: Midjourney-style `--ar 16:9 --seed 7 --no text` parameters inside any prompt;
- `prompt_help`: short prompts rewritten by an OpenAI-compatible chat model (`[prompt_help]`).
"""
