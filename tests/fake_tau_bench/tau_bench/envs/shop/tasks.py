from tau_bench.types import Action, Task

TASKS = [
    Task(
        user_id="ada_lovelace_1815",
        instruction="Your user id is ada_lovelace_1815. You want to know your balance.",
        actions=[Action(name="get_user_details", kwargs={"user_id": "ada_lovelace_1815"})],
        outputs=["100"],
    ),
    Task(
        user_id="alan_turing_1912",
        instruction="Your user id is alan_turing_1912. You want to buy two kettles.",
        actions=[
            Action(name="get_user_details", kwargs={"user_id": "alan_turing_1912"}),
            Action(name="buy_item", kwargs={"user_id": "alan_turing_1912", "item_id": "kettle", "quantity": 2}),
        ],
        outputs=[],
    ),
    Task(
        user_id="ada_lovelace_1815",
        instruction="Your user id is ada_lovelace_1815. You want a refund and insist on talking to a human.",
        actions=[Action(name="transfer_to_human_agents", kwargs={"summary": "The customer wants a refund."})],
        outputs=[],
    ),
]
