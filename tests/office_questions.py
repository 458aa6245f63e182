"""The questions about the office documents of `office_docs.py`: for each document, questions with the fact
their answer must contain, and questions about the same people and topics that the documents do not answer;
and lines of the documents that are never an answer (headings, titles, questions, names)."""

from __future__ import annotations

from dataclasses import dataclass


NEVER_QUOTED = [
    "Northwind Traders Employee Handbook", "Working hours", "Remote work", "Leave", "Annual leave", "Sick leave",
    "Parental leave", "Expenses", "Travel", "Meals", "Probation", "Equipment", "| Length of service | Extra leave |",
    "Northwind IT Help Desk: Frequently Asked Questions", "Which laptop do new employees get?",
    "How do I reset my password?", "How often are laptops replaced?", "Who do I call outside office hours?",
    "Can I read work email on my own phone?", "Which VPN do we use?", "How much storage do I get on the shared drive?",
    "Project Atlas steering group: meeting notes", "Attendees:", "1. Go-live date", "2. Budget", "3. Training",
    "Actions:", "MEMO", "Service Agreement: Warehouse Management System", "Parties", "Scope of services",
    "Milestones and payments", "Support", "Term and termination", "Liability", "Governing law",
    "Northwind offices and opening hours", "Our offices", "Addresses and opening hours", "Parking", "Getting there",
    "Northwind Traders Annual Report 2024", "Chief executive's review", "Financial review", "Our people",
    "Warehouses and safety", "Outlook", "Warehouse Safety Bulletin", "Spring 2025",
    "Subject: Our new finance director", "Helen Marsh", "Amira Haddad", "Priya Raman", "Tom Okafor",
]


@dataclass
class Question:
    question: str
    facts: list[str]  # the answer must contain one of them; empty for a question the documents do not answer
    doc: str  # the document it is about (its file name without suffix)


# Questions by document, with the facts an answer must contain (one of them).
ASKED = {
    "employee-handbook": [
        ("Who reviews the employee handbook each year?", ["Marta Kowalski"]),
        ("What are the core working hours at Northwind?", ["10:00 to 16:00"]),
        ("How many days a week can staff work from home?", ["three days"]),
        ("How many days of paid annual leave does an employee get?", ["26 days"]),
        ("How many unused leave days can be carried over to the next year?", ["five unused days", "up to five"]),
        ("How much extra leave do staff with six or more years of service get?", ["three extra days"]),
        ("When do I need a doctor's note for sick leave?", ["seven calendar days"]),
        ("How long is parental leave for birth parents?", ["20 weeks"]),
        ("How soon must expense claims be submitted?", ["30 days"]),
        ("What is the hotel limit per night in London?", ["210 euros"]),
        ("How much can I claim for meals per day when travelling?", ["45 euros"]),
        ("How long is the probation period for new employees?", ["six months"]),
    ],
    "it-faq": [
        ("Which laptop do new employees get?", ["ThinkPad T14"]),
        ("How can I reset a forgotten password?", ["password.northwind.example"]),
        ("How often does Northwind replace laptops?", ["every four years"]),
        ("Which number do I call for an urgent IT problem at night?", ["0113 496 0420"]),
        ("Which app is needed to read work email on a personal phone?", ["Outlook"]),
        ("What VPN software does Northwind use?", ["GlobalProtect"]),
        ("How much shared drive storage does each team get?", ["2 TB"]),
    ],
    "atlas-steering-notes": [
        ("To which date was the go-live of the warehouse system moved?", ["17 March"]),
        ("Why was the Atlas go-live postponed?", ["two more weeks", "payroll"]),
        ("How much of the Atlas budget has been spent so far?", ["412,000 euros"]),
        ("How much extra money did the steering group approve for training?", ["35,000 euros"]),
        ("Who chaired the Atlas steering group meeting?", ["Helen Marsh"]),
        ("Who must confirm the new go-live date with the supplier?", ["Tom Okafor"]),
        ("When is the next Atlas steering meeting?", ["26 February"]),
    ],
    "memo-finance-director": [
        ("Who is the new finance director?", ["Jonathan Pryce"]),
        ("When does the new finance director start?", ["3 March"]),
        ("Where did Jonathan Pryce work before Northwind?", ["Contoso Foods"]),
        ("Who has been the interim finance director?", ["Amira Haddad"]),
    ],
    "service-agreement": [
        ("When is user acceptance testing due under the service agreement?", ["28 February 2025"]),
        ("How much is paid at design sign-off?", ["60,000 euros"]),
        ("What go-live date does the service agreement set?", ["3 March 2025"]),
        ("How long after acceptance is a milestone payment due?", ["30 days"]),
        ("How much notice is needed to end the service agreement?", ["six months"]),
        ("What is the limit of Fabrikam's liability?", ["500,000 euros"]),
        ("How quickly must the supplier answer critical incidents?", ["within one hour"]),
        ("Who is the supplier's contact for the service agreement?", ["Lena Hoffmann"]),
    ],
    "offices": [
        ("Who manages the Bristol office?", ["Oliver Brandt"]),
        ("What is the address of the Glasgow office?", ["77 Bothwell Street"]),
        ("What are the opening hours of the Leeds office?", ["07:30 to 18:30"]),
        ("How do staff book a parking space at the Leeds office?", ["Parkable"]),
    ],
    "annual-report-2024": [
        ("Who is the chief executive of Northwind?", ["Helen Marsh"]),
        ("By how much did Northwind's revenue grow in 2024?", ["12 per cent"]),
        ("What was the operating profit in 2024?", ["6.1 million euros"]),
        ("What dividend does the board propose?", ["0.42 euros"]),
        ("How much did sales in Germany grow?", ["21 per cent"]),
        ("How many employees did Northwind have at the end of 2024?", ["468"]),
        ("How many accidents were reported in the warehouses in 2024?", ["six in 2024"]),
        ("What revenue growth does the board expect for 2025?", ["8 to 10 per cent"]),
    ],
    "safety-bulletin": [
        ("How often must forklift drivers take the refresher course?", ["every twelve months"]),
        ("How long does the forklift refresher course last?", ["two days"]),
        ("What is the speed limit for forklifts in the warehouse?", ["8 km/h"]),
        ("Who are the first aiders on the early shift?", ["Sam Whitfield"]),
    ],
}
# About the same people and topics, but not said anywhere.
NOT_SAID = {
    "employee-handbook": [
        "How many days of paid sick leave does an employee get?",
        "What is the mileage rate for driving a private car on business?",
    ],
    "it-faq": [
        "How much does a replacement laptop charger cost?",
    ],
    "atlas-steering-notes": [
        "Who proposed moving the go-live date of Project Atlas?",
    ],
    "memo-finance-director": [
        "What is Jonathan Pryce's salary?",
    ],
    "service-agreement": [
        "What penalty does Fabrikam pay if it misses the go-live date?",
    ],
    "offices": [
        "Who manages the Manchester office?",
    ],
    "annual-report-2024": [
        "How much did Northwind spend on marketing in 2024?",
        "What bonus did Helen Marsh receive for 2024?",
    ],
    "safety-bulletin": [
        "How many forklifts does the Leeds depot have?",
    ],
}
QUESTIONS = [Question(q, facts, doc) for doc, pairs in ASKED.items() for q, facts in pairs] + [
    Question(q, [], doc) for doc, questions in NOT_SAID.items() for q in questions
]
