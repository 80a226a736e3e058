//! The panels that fold away on narrow screens: the rooms (sidebar) and the
//! members of the open room. Each has a toggle button, shown only when the
//! screen is narrow; an open panel lies over the conversation, Escape or
//! opening a conversation closes it, and focus goes in and comes back out.

use leptos::prelude::*;
use leptos::wasm_bindgen::JsCast;
use leptos::web_sys;

/// A panel over the conversation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Panel {
    Rooms,
    Members,
}

impl Panel {
    /// The panel's element id (for `aria-controls`).
    pub fn id(self) -> &'static str {
        match self {
            Panel::Rooms => "rooms-panel",
            Panel::Members => "members-panel",
        }
    }

    /// Its toggle button's id.
    fn toggle_id(self) -> &'static str {
        match self {
            Panel::Rooms => "rooms-toggle",
            Panel::Members => "members-toggle",
        }
    }

    /// What takes focus when it opens.
    fn first_focus(self) -> &'static str {
        match self {
            Panel::Rooms => "room-name",
            Panel::Members => "members-panel",
        }
    }

    /// For the page's `data-panel` attribute, which the stylesheet reads.
    pub fn key(self) -> &'static str {
        match self {
            Panel::Rooms => "rooms",
            Panel::Members => "members",
        }
    }
}

/// The open panel, if any; shared through the context.
#[derive(Clone, Copy)]
pub struct Panels(pub RwSignal<Option<Panel>>);

impl Panels {
    pub fn open(&self) -> Option<Panel> {
        self.0.get()
    }

    /// Closes whatever is open; `refocus` puts focus back on its toggle
    /// (when closed by Escape, not by choosing something in it).
    pub fn close(&self, refocus: bool) {
        if let Some(panel) = self.0.get_untracked() {
            self.0.set(None);
            if refocus {
                focus(panel.toggle_id());
            }
        }
    }

    fn toggle(&self, panel: Panel) {
        if self.0.get_untracked() == Some(panel) {
            self.close(true);
        } else {
            self.0.set(Some(panel));
            request_animation_frame(move || focus(panel.first_focus()));
        }
    }
}

/// Focuses the element with `id`, if it is on the page.
pub(super) fn focus(id: &str) {
    if let Some(element) = document().get_element_by_id(id) {
        let _ = element.unchecked_into::<web_sys::HtmlElement>().focus();
    }
}

/// The button that opens and closes a panel (narrow screens only).
#[component]
pub fn PanelToggle(
    panel: Panel,
    /// The button's text, e.g. "Members (3)".
    #[prop(into)]
    label: Signal<String>,
    /// Unread messages behind it, shown as a badge when there are any.
    #[prop(optional, into)]
    unread: Option<Signal<u32>>,
) -> impl IntoView {
    let panels = expect_context::<Panels>();
    let unread = move || unread.map_or(0, |unread| unread.get());
    view! {
        <button
            type="button"
            id=panel.toggle_id()
            class="panel-toggle"
            aria-controls=panel.id()
            aria-expanded=move || (panels.open() == Some(panel)).to_string()
            on:click=move |_| panels.toggle(panel)
        >
            // Read as "Rooms 1 unread": what is shown, then the word
            // (WCAG 2.5.3: the name holds the visible text).
            {label}
            " "
            <Show when=move || { unread() > 0 }>
                <span class="unread">
                    {unread}
                    <span class="visually-hidden">" unread"</span>
                </span>
            </Show>
        </button>
    }
}

/// Closes its panel, from inside it (narrow screens only: on a phone there
/// is no Escape key, and the panel covers its toggle).
#[component]
pub fn PanelClose(panel: Panel) -> impl IntoView {
    let panels = expect_context::<Panels>();
    view! {
        <button type="button" class="panel-close" on:click=move |_| panels.close(true)>
            {match panel {
                Panel::Rooms => "Close rooms",
                Panel::Members => "Close members",
            }}
        </button>
    }
}
