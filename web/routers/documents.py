"""``GET /api/documents`` and ``GET /api/documents/{doc_id}``: the canonical source texts."""

from __future__ import annotations

from fastapi import APIRouter, HTTPException

from web.dependencies import CurrentAnswerer, find_documents
from web.schemas import DocumentOut, DocumentSummary, ErrorOut, SectionOut

router = APIRouter(tags=["documents"])


@router.get("/api/documents", response_model=list[DocumentSummary], summary="List the source documents")
async def list_documents(answerer: CurrentAnswerer) -> list[DocumentSummary]:
    """All documents of the loaded index.

    Returns:
        Id, title and length of each document.
    """
    return [DocumentSummary(id=entry.doc_id, title=entry.title, length=entry.length) for entry in answerer.document_entries()]


@router.get(
    "/api/documents/{doc_id}",
    response_model=DocumentOut,
    responses={404: {"model": ErrorOut}},
    summary="One document's canonical text and sections",
)
async def get_document(doc_id: str, answerer: CurrentAnswerer) -> DocumentOut:
    """One document, looked up by id in the loaded index (never on disk; a sharded index's
    from its shard).

    Args:
        doc_id: Document id.
        answerer: The app's answerer.

    Returns:
        The document.

    Raises:
        HTTPException: 404 for an unknown id.
    """
    found = (await find_documents(answerer, [doc_id])).get(doc_id)
    if found is None:
        raise HTTPException(status_code=404, detail=f"no document with id '{doc_id}'")
    store, number = found
    document = store.documents[number]
    return DocumentOut(
        id=document.doc_id,
        title=document.title,
        text=document.text,
        sections=[SectionOut(title=s.title, start=s.start, end=s.end) for s in document.sections],
    )
