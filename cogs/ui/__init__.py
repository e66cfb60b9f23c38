"""Discord UI that several cogs share: the buttons on progress, result, gallery and report
messages, the views and embeds they are posted with, and how a command or button answers.

Nothing here is a cog (no `setup`): cogs import from here, never from each other, and the
composition root (`ArtFactoryBot.setup_hook`) hands the view factories to the Messenger before
any cog loads. Every custom_id is built and matched through `custom_ids`.
"""
