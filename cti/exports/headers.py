"""Column titles of every export in Russian and English (a key without a title keeps its key)."""

from __future__ import annotations

#: column key -> (Russian, English)
TITLES: dict[str, tuple[str, str]] = {
    # periods and groups
    "from": ("С", "From"),
    "to": ("По", "To"),
    "label": ("Группа", "Group"),
    "hour": ("Час", "Hour"),
    "day": ("День", "Day"),
    "did": ("Линия (DID)", "Line (DID)"),
    "team": ("Команда", "Team"),
    "login": ("Логин", "Login"),
    "name": ("Имя", "Name"),
    "extension": ("Внутренний номер", "Extension"),
    # call figures
    "offered": ("Поступило", "Offered"),
    "answered": ("Отвечено", "Answered"),
    "answered_within_threshold": ("Отвечено в норматив", "Answered within threshold"),
    "missed": ("Пропущено", "Missed"),
    "missed_abandoned": ("Пропущено: абонент положил трубку", "Missed: caller hung up"),
    "missed_out_of_hours": ("Пропущено: нерабочее время", "Missed: out of hours"),
    "missed_busy": ("Пропущено: занято", "Missed: busy"),
    "missed_no_answer": ("Пропущено: нет ответа", "Missed: no answer"),
    "short_abandons": ("Короткие сбросы", "Short abandons"),
    "service_level": ("Уровень обслуживания", "Service level"),
    "service_level_answered": ("Уровень обслуживания (из отвеченных)", "Service level (answered)"),
    "missed_rate": ("Доля пропущенных", "Missed rate"),
    "abandon_rate": ("Доля сбросов", "Abandon rate"),
    "answer_rate": ("Доля отвеченных", "Answer rate"),
    "average_speed_of_answer": ("Среднее время до ответа, с", "Average speed of answer, s"),
    "average_wait": ("Среднее ожидание, с", "Average wait, s"),
    "longest_wait": ("Самое долгое ожидание, с", "Longest wait, s"),
    "average_talk": ("Средний разговор, с", "Average talk, s"),
    "fallbacks": ("Ушло дальше по цепочке", "Fallbacks"),
    "duty_fallbacks": ("Ушло дежурному", "Duty fallbacks"),
    # callback figures
    "callbacks": ("Перезвоны", "Callbacks"),
    "callbacks_resolved": ("Перезвоны выполнены", "Callbacks resolved"),
    "callbacks_open": ("Перезвоны открыты", "Callbacks open"),
    "callbacks_overdue": ("Перезвоны просрочены", "Callbacks overdue"),
    "callback_median": ("Время до перезвона (медиана), с", "Callback time (median), s"),
    "callback_p90": ("Время до перезвона (90%), с", "Callback time (p90), s"),
    "callbacks_within_sla": ("Перезвоны в норматив", "Callbacks within SLA"),
    "callbacks_on_time": ("Перезвоны до срока", "Callbacks on time"),
    "time_available": ("Время: на месте, с", "Time available, s"),
    "time_paused": ("Время: перерыв, с", "Time paused, s"),
    "time_dnd": ("Время: не беспокоить, с", "Time DND, s"),
    "time_offline": ("Время: не в сети, с", "Time offline, s"),
    # missed calls
    "missed_at": ("Время пропуска", "Missed at"),
    "kind": ("Причина", "Kind"),
    "short_abandon": ("Короткий сброс", "Short abandon"),
    "caller": ("Кто звонил", "Caller"),
    "caller_e164": ("Номер (E.164)", "Number (E.164)"),
    "caller_name": ("Имя звонившего", "Caller name"),
    "customer_id": ("Клиент (id)", "Customer id"),
    "agents_rung": ("Кому звонило", "Agents rung"),
    "wait_seconds": ("Ожидание, с", "Wait, s"),
    "callback_id": ("Перезвон (id)", "Callback id"),
    "callback_state": ("Состояние перезвона", "Callback state"),
    "callback_owner": ("Кто перезванивает", "Callback owner"),
    "linkedid": ("Linkedid", "Linkedid"),
    # callbacks
    "id": ("Id", "Id"),
    "state": ("Состояние", "State"),
    "number": ("Номер", "Number"),
    "owner": ("Ответственный", "Owner"),
    "owner_reason": ("Почему он", "Owner reason"),
    "source": ("Источник", "Source"),
    "misses": ("Пропусков", "Misses"),
    "attempts": ("Попыток", "Attempts"),
    "note": ("Заметка", "Note"),
    "created_at": ("Создан", "Created at"),
    "deadline_at": ("Срок", "Deadline"),
    "timezone": ("Часовой пояс", "Time zone"),
    "held_by": ("Взял в работу", "Held by"),
    "escalated_at": ("Передан руководителю", "Escalated at"),
    "resolved_at": ("Выполнен", "Resolved at"),
    "resolved_by": ("Кем выполнен", "Resolved by"),
    "resolution": ("Результат", "Resolution"),
    "resolution_note": ("Заметка к результату", "Resolution note"),
}

#: enumerated values shown as words: (column, value) -> (Russian, English)
VALUES: dict[str, dict[str, tuple[str, str]]] = {
    "kind": {
        "abandoned": ("абонент положил трубку", "caller hung up"),
        "out_of_hours": ("нерабочее время", "out of hours"),
        "no_agent": ("нет свободных операторов", "no agent free"),
        "busy": ("занято", "busy"),
        "no_answer": ("нет ответа", "no answer"),
    },
}


def title(column: str, lang: str) -> str:
    """The header of `column` in `lang` ("ru" or "en")."""
    names = TITLES.get(column)
    if names is None:
        return column
    return names[0] if lang == "ru" else names[1]


def word(column: str, value: str, lang: str) -> str:
    """An enumerated value of `column` in `lang`, or the value itself."""
    names = VALUES.get(column, {}).get(value)
    if names is None:
        return value
    return names[0] if lang == "ru" else names[1]
