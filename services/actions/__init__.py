"""The actions service: the case record each scheduled case gets, and (later) its SMART actions."""
