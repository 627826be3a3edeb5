"""The local engine: requests, scheduler, paged cache, model runner, sampler, text codec and chat encoding."""
