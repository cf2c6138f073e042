"""User simulators. The LLM ones call the module-level ``completion`` (litellm's, in τ-bench)."""

from typing import Any

STOP = "###STOP###"


def completion(**kwargs: Any) -> Any:
    """Stands in for litellm's ``completion``: tests must never reach it."""
    raise RuntimeError("the stand-in litellm completion was called: user calls were not routed through taurl")


class HumanUser:
    def reset(self, instruction: str | None = None) -> str:
        raise RuntimeError("the human user reads a terminal: tests never use it")

    def step(self, content: str) -> str:
        raise RuntimeError("the human user reads a terminal: tests never use it")

    def get_total_cost(self) -> float:
        return 0.0


class LLMUser:
    """One model call per customer turn; its constructor opens a first conversation, as τ-bench's does."""

    def __init__(self, model: str, provider: str) -> None:
        self.model = model
        self.provider = provider
        self.messages: list[dict[str, Any]] = []
        self.total_cost = 0.0
        self.reset()

    def system_prompt(self, instruction: str | None) -> str:
        return f"You are a customer.\n\nInstruction: {instruction}\n\nSay '{STOP}' when your goal is reached."

    def reset(self, instruction: str | None = None) -> str:
        self.messages = [
            {"role": "system", "content": self.system_prompt(instruction)},
            {"role": "user", "content": "Hi! How can I help you today?"},
        ]
        return self.generate()

    def step(self, content: str) -> str:
        self.messages.append({"role": "user", "content": content})
        return self.generate()

    def ask(self) -> Any:
        response = completion(model=self.model, custom_llm_provider=self.provider, messages=self.messages)
        self.total_cost = response._hidden_params["response_cost"]
        return response.choices[0].message

    def generate(self) -> str:
        message = self.ask()
        self.messages.append(message.model_dump())
        return self.visible(message.content)

    def visible(self, content: str) -> str:
        return content

    def get_total_cost(self) -> float:
        return self.total_cost


class ReactUser(LLMUser):
    """Writes a hidden Thought, then the User Response the agent sees."""

    def system_prompt(self, instruction: str | None) -> str:
        return super().system_prompt(instruction) + "\n\nFormat:\nThought:\n<thought>\nUser Response:\n<message>"

    def visible(self, content: str) -> str:
        if STOP in content:
            return STOP
        if "User Response:" not in content:
            raise ValueError(f"Invalid response format: {content}")
        return content.split("User Response:")[-1].strip()


class VerifyUser(LLMUser):
    """Asks the very same request again while the reply is empty, up to three times."""

    def ask(self) -> Any:
        message = super().ask()
        for _ in range(2):
            if message.content:
                break
            message = super().ask()
        return message


def load_user(user_strategy: str, model: str | None = "gpt-4o", provider: str | None = None) -> Any:
    if user_strategy == "human":
        return HumanUser()
    strategies = {"llm": LLMUser, "react": ReactUser, "verify": VerifyUser}
    if user_strategy not in strategies:
        raise ValueError(f"Unknown user strategy {user_strategy}")
    if model is None or provider is None:
        raise ValueError(f"the {user_strategy} user strategy needs a model and a provider")
    return strategies[user_strategy](model=model, provider=provider)
