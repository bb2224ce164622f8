"""The atlas: reference PET with organ labels and landmarks, registration, landmark prompts."""
