"""IAM vocabulary shared by the rules (which declare their write actions' scopes) and the
policy generators (which compose those declarations): imports nothing else of reclaim's
packages, so every package may use it."""
