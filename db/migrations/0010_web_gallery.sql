-- The web gallery (issue 17): a server's shared images on the bot's web pages, opt-in by its
-- moderators. 'off': no pages; 'members': only to members signed in with Discord; 'public':
-- to anyone with the link.
ALTER TABLE guild_settings ADD COLUMN web_gallery TEXT NOT NULL DEFAULT 'off';
