// Integration tests start real servers and OS processes; the default 5 s is far too short.
jest.setTimeout(240_000);
