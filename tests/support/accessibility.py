"""Accessibility checks for the browser tests: axe-core's rules, a phone's width, the keyboard.

axe-core is vendored (`tests/support/vendor/axe-core/`, its README says which version and
why): :func:`axe_violations` evaluates it in the page through the DevTools protocol (so the
page's content security policy, which allows no inline script, does not stop it) and returns
the violations of at least `serious` impact. :func:`horizontal_overflow` says how many pixels
a page is wider than its viewport; :func:`tab_order` walks the page with the Tab key.
"""

from __future__ import annotations

import functools
import typing
from pathlib import Path

if typing.TYPE_CHECKING:
    from playwright.async_api import Page

__all__ = [
    "AXE_PATH",
    "PHONE",
    "audit_pages",
    "axe_violations",
    "focus_is_visible",
    "focusable_count",
    "horizontal_overflow",
    "tab_order",
    "tab_to",
]

AXE_PATH: typing.Final = Path(__file__).parent / "vendor" / "axe-core" / "axe.min.js"
PHONE: typing.Final = {"width": 390, "height": 844}
"""A phone's viewport in CSS pixels (an iPhone 12 to 15)."""
BLOCKING: typing.Final = ("serious", "critical")


@functools.cache
def _axe_source() -> str:
    return AXE_PATH.read_text()


async def axe_violations(page: Page) -> list[str]:
    """axe-core's serious and critical violations on `page` as it is now, one line each
    (rule, impact, the first offending elements)."""
    if not await page.evaluate("typeof window.axe === 'object'"):
        await page.evaluate(_axe_source())
    results = await page.evaluate(
        "axe.run(document, {resultTypes: ['violations']}).then(r => r.violations.map("
        "v => ({id: v.id, impact: v.impact, help: v.help,"
        " nodes: v.nodes.slice(0, 4).map("
        "n => n.target.join(' ') + ' [' + ((n.any[0] || {}).message || '') + ']')})))"
    )
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at {', '.join(v['nodes'])}"
        for v in results
        if v["impact"] in BLOCKING
    ]


async def horizontal_overflow(page: Page) -> int:
    """How many CSS pixels the page is wider than its viewport (0: no horizontal scroll)."""
    return int(
        await page.evaluate(
            "Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)"
            " - document.documentElement.clientWidth"
        )
    )


_FOCUSABLE: typing.Final = (
    "a[href], button:not([disabled]), input:not([type=hidden]):not([disabled]),"
    " select:not([disabled]), textarea:not([disabled]), summary, [tabindex]:not([tabindex='-1'])"
)


async def focusable_count(page: Page) -> int:
    """How many elements of the page a keyboard user should reach with Tab (visible ones)."""
    return int(
        await page.evaluate(
            f"""[...document.querySelectorAll("{_FOCUSABLE}")]
                .filter(e => e.getClientRects().length > 0 || e.classList.contains('skip'))
                .length"""
        )
    )


async def tab_order(page: Page, limit: int = 400) -> list[int]:
    """Press Tab from the top of the page until focus leaves it or comes back round; the
    position (in document order, among every element of the page) of each element reached."""
    await page.evaluate("document.activeElement && document.activeElement.blur()")
    await page.evaluate("window.scrollTo(0, 0)")
    seen: list[int] = []
    for _ in range(limit):
        await page.keyboard.press("Tab")
        index = int(
            await page.evaluate(
                "(() => { const e = document.activeElement;"
                " if (!e || e === document.body) return -1;"
                " return [...document.querySelectorAll('*')].indexOf(e); })()"
            )
        )
        if index < 0 or index in seen:
            break
        seen.append(index)
    return seen


async def focus_is_visible(page: Page) -> bool:
    """Whether the focused element draws a focus indicator (an outline or a box shadow)."""
    return bool(
        await page.evaluate(
            "(() => { const s = getComputedStyle(document.activeElement);"
            " return (s.outlineStyle !== 'none' && parseFloat(s.outlineWidth) > 0)"
            " || s.boxShadow !== 'none'; })()"
        )
    )


async def audit_pages(page: Page, urls: list[str]) -> list[str]:
    """Visit each of `urls` in `page` and return what is wrong, one line each: axe-core's
    serious and critical violations, and any horizontal scroll at the page's viewport."""
    problems: list[str] = []
    for url in urls:
        response = await page.goto(url)
        if response is None or response.status != 200:
            problems.append(f"{url}: answered {response.status if response else 'nothing'}")
            continue
        if await page.locator("#swagger-ui").count():  # drawn by Swagger UI's script
            await page.locator("#swagger-ui .opblock").first.wait_for()
        problems.extend(f"{url}: {violation}" for violation in await axe_violations(page))
        overflow = await horizontal_overflow(page)
        if overflow > 0:
            width = await page.evaluate("document.documentElement.clientWidth")
            problems.append(f"{url}: {overflow} px wider than the {width} px screen")
    return problems


async def tab_to(page: Page, selector: str, limit: int = 100) -> None:
    """Press Tab until the element matching `selector` has the focus, checking that every
    element on the way shows that it has it."""
    for _ in range(limit):
        await page.keyboard.press("Tab")
        focused = await page.evaluate("document.activeElement.outerHTML.slice(0, 120)")
        assert await focus_is_visible(page), f"no visible focus on {focused}"
        if await page.evaluate(f"document.activeElement.matches({selector!r})"):
            return
    raise AssertionError(f"Tab never reached {selector}")
