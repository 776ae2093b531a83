"""The prevention hub: evaluated programmes, resources for adaptation and working groups,
searchable, proposed by practitioners and reviewed by the Centre before publication."""
